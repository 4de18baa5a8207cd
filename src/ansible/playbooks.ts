import { fileURLToPath } from "node:url";

/** Absolute path of a playbook shipped in the repository's playbooks/ folder (from src/ or dist/). */
export function playbookPath(name: string): string {
  return fileURLToPath(new URL(`../../playbooks/${name}`, import.meta.url));
}
