// Loaded with `node --import <this file>`: records the URL of every module the program loads
// through the ES module loader into the file named by ELM_INFRA_MODULE_LOG, one per line.
// A test-only lens on the CLI; the CLI itself knows nothing of it.
import { register } from "node:module";
import process from "node:process";

if (process.env.ELM_INFRA_MODULE_LOG)
  register("./hooks.mjs", import.meta.url, { data: { file: process.env.ELM_INFRA_MODULE_LOG } });
