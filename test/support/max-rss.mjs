// Loaded with `node --import <this file>`: when the process exits (however it exits), writes its
// peak resident memory in kilobytes (process.resourceUsage().maxRSS) to ELM_INFRA_RSS_FILE.
// A test-only lens on the CLI; the CLI itself knows nothing of it.
import { writeFileSync } from "node:fs";
import process from "node:process";

const file = process.env.ELM_INFRA_RSS_FILE;
if (file) process.on("exit", () => writeFileSync(file, String(process.resourceUsage().maxRSS)));
