/**
 * Issue 23's release ledger and notifications on the shared cluster: a deploy and a rollback of
 * elm-lang.org with the webhook set (a real HTTP receiver on loopback); `history --json` lists
 * the run's earlier operations and these, newest first, with their outcomes; the receiver got one
 * well-formed message per new entry; `rollback --entry` serves the version an earlier entry
 * deployed, and refuses another service's entry (exit 2, nothing recorded); with the receiver
 * down a deploy still succeeds, with a warning naming the failed delivery and never the URL.
 * It starts and ends with elm-lang.org at 1.0.0 (the package site is not touched).
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect, it } from "vitest";
import type { LedgerEntry } from "../../../src/plan/ledger.js";
import {
  anyVersion,
  buildContext,
  elmInfra,
  ensureDeployed,
  errorOf,
  resultOf,
  runningVersions,
  throughLoadBalancer,
  type Run,
} from "../support.js";

const site = "elm-lang.org";

interface Receiver {
  url: string;
  messages: Array<{ type: string | undefined; body: unknown }>;
  close(): Promise<void>;
}

/** A chat's incoming webhook, on loopback: every POST's body, parsed. */
async function startReceiver(): Promise<Receiver> {
  const messages: Receiver["messages"] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      messages.push({ type: req.headers["content-type"], body: JSON.parse(body) as unknown });
      res.end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hooks/${randomBytes(8).toString("hex")}`,
    messages,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

const logsOf = (r: Run, level: string) =>
  r.events.filter((e) => e.type === "log" && e.level === level).map((e) => String(e.message));

export function historyScenarios(): void {
  it("history and notifications: the ledger lists the run's deploys and rollbacks newest first with outcomes, one webhook message each; rollback --entry serves an entry's version; a receiver that is down only warns", async () => {
    await ensureDeployed({ [site]: "1.0.0", "package.elm-lang.org": anyVersion });
    const receiver = await startReceiver();
    const env = { ELM_INFRA_NOTIFY_WEBHOOK_URL: receiver.url };
    const withHook = (args: string[]) => elmInfra(args, undefined, { env });
    try {
      const before = await withHook(["history"]);
      expect(before.exitCode, errorOf(before)).toBe(0);
      const earlier = resultOf<LedgerEntry[]>(before);

      const deployed = await withHook([
        "deploy",
        `${site}@1.0.1`,
        "--build",
        "--context",
        await buildContext(site),
        "--yes",
      ]);
      expect(deployed.exitCode, errorOf(deployed)).toBe(0);
      const rolledBack = await withHook(["rollback", site, "--yes"]);
      expect(rolledBack.exitCode, errorOf(rolledBack)).toBe(0);

      const listed = await withHook(["history"]);
      expect(listed.exitCode, errorOf(listed)).toBe(0);
      const entries = resultOf<LedgerEntry[]>(listed);
      // newest first, by id and by time; the two new ones on top of what was there
      expect(entries.map((e) => e.id)).toEqual([...entries.map((e) => e.id)].sort().reverse());
      expect(entries.map((e) => e.at)).toEqual([...entries.map((e) => e.at)].sort().reverse());
      expect(entries.slice(2).map((e) => e.id)).toEqual(earlier.map((e) => e.id));
      const [rollback, deploy] = entries;
      expect(rollback).toMatchObject({
        command: "rollback",
        service: site,
        from: "1.0.1",
        to: "1.0.0",
        outcome: "succeeded",
        exitCode: 0,
      });
      expect(deploy).toMatchObject({
        command: "deploy",
        service: site,
        from: "1.0.0",
        to: "1.0.1",
        outcome: "succeeded",
        exitCode: 0,
      });
      expect(deploy!.jobVersion).toBeGreaterThan(0);
      expect(rollback!.jobVersion).toBe(deploy!.jobVersion! + 1);
      for (const e of [rollback!, deploy!]) {
        expect(e.who).not.toBe("");
        expect(e.durationMs).toBeGreaterThan(1000);
      }
      // The run's earlier operations: the sites' first deploys (the scenario "both sites"), and
      // in a whole run every deploy, revert, rollback and ingress upgrade since.
      const deploysOf = (s: string) =>
        earlier.filter((e) => e.command === "deploy" && e.service === s && e.to === "1.0.0");
      expect(deploysOf(site).at(-1)).toMatchObject({ outcome: "succeeded", from: null });
      expect(deploysOf("package.elm-lang.org").at(-1)).toMatchObject({ outcome: "succeeded" });
      for (const e of earlier) expect(["succeeded", "failed", "reverted"]).toContain(e.outcome);
      expect(earlier.filter((e) => e.outcome === "reverted").every((e) => e.exitCode === 1)).toBe(
        true,
      );

      // one well-formed message per new entry, in order, none for history itself
      expect(receiver.messages).toHaveLength(2);
      for (const [i, e] of [deploy!, rollback!].entries()) {
        const m = receiver.messages[i]!;
        expect(m.type).toBe("application/json");
        expect(m.body).toEqual({ text: expect.any(String) as string, elmInfra: e });
        expect((m.body as { text: string }).text).toContain(
          `${e.command} ${site} ${e.from} → ${e.to} succeeded`,
        );
      }

      const limited = await withHook(["history", site, "--limit", "1"]);
      expect(resultOf<LedgerEntry[]>(limited).map((e) => e.id)).toEqual([rollback!.id]);

      // another service's entry is refused before anything changes, and is not recorded
      const refused = await withHook(["rollback", "package.elm-lang.org", "--entry", deploy!.id]);
      expect(refused.exitCode).toBe(2);
      expect(errorOf(refused)).toContain(`is a deploy of ${site}, not of package.elm-lang.org`);

      // back to what an earlier entry deployed
      const toEntry = await withHook(["rollback", site, "--entry", deploy!.id, "--yes"]);
      expect(toEntry.exitCode, errorOf(toEntry)).toBe(0);
      expect((await runningVersions())[site]).toBe("1.0.1");
      const served = await throughLoadBalancer(site, "/health");
      expect([served.status, String(served.headers["x-elm-version"])]).toEqual([200, "1.0.1"]);
      expect(receiver.messages).toHaveLength(3);
      expect(receiver.messages[2]!.body).toMatchObject({
        elmInfra: { command: "rollback", service: site, from: "1.0.0", to: "1.0.1" },
      });
    } finally {
      await receiver.close();
    }

    // the receiver is down: the deploy still succeeds, says the delivery failed, never the URL
    const down = await elmInfra(["deploy", `${site}@1.0.0`, "--yes"], undefined, { env });
    expect(down.exitCode, errorOf(down)).toBe(0);
    expect(logsOf(down, "warn")).toContainEqual(
      expect.stringMatching(
        /^the notification of ledger entry \S+ was not delivered to the webhook \(notifyWebhookUrl\): the connection was refused$/,
      ),
    );
    const printed = JSON.stringify(down.events) + down.stderr;
    expect(printed).not.toContain(receiver.url);
    expect(printed).not.toContain(new URL(receiver.url).pathname);
    expect((await runningVersions())[site]).toBe("1.0.0");
    const last = resultOf<LedgerEntry[]>(await elmInfra(["history", site, "--limit", "1"]));
    expect(last[0]).toMatchObject({ command: "deploy", from: "1.0.1", to: "1.0.0" });
  });
}
