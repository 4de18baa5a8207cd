// Preloaded (node --import) by test/unit/cli/stall.test.ts: opening a cluster.yaml returns a
// promise nothing will settle, the shape of the bug cli/stall.ts catches (an await whose only
// handle is gone, as a closed SSH handshake once was).
import fsp from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";

const open = fsp.open;
fsp.open = (path, ...rest) =>
  String(path).endsWith("cluster.yaml") ? new Promise(() => undefined) : open(path, ...rest);
syncBuiltinESMExports();
