import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseCluster, parseYaml } from "../../../src/config/parse.js";
import {
  acmeCa,
  certificateSpecs,
  expiryProblem,
  letsEncrypt,
  letsEncryptStaging,
  outlivesMargin,
  renewalDivisor,
  servesHttps,
  splitWwwRedirects,
  warningDivisor,
} from "../../../src/plan/tls.js";
import {
  acmeEmail,
  acmeIssuerJobVars,
  acmePolicies,
  challengeTags,
  issuerImage,
} from "../../../src/plan/acme.js";
import { renderTemplateFile } from "../../../src/nomad/render.js";

const root = resolve(import.meta.dirname, "../../..");
const cluster = parseCluster(
  parseYaml(readFileSync(resolve(root, "cluster.yaml"), "utf8"), "cluster.yaml"),
  "cluster.yaml",
);
const local = { target: cluster.targets.local!, targetName: "local", services: cluster.services };

describe("which CA issues a target's certificates", () => {
  it("local: the target's own Pebble, with the lifetime asked (default 1h)", () => {
    expect(acmeCa("local", { provider: "local" })).toEqual({
      kind: "pebble",
      lifetimeSeconds: 3600,
    });
    expect(acmeCa("t", { provider: "local", acme: { certificateLifetime: "10m" } })).toEqual({
      kind: "pebble",
      lifetimeSeconds: 600,
    });
  });

  it("digitalocean: Let's Encrypt for the target named production, its staging CA for any other", () => {
    expect(acmeCa("production", { provider: "digitalocean" })).toEqual({
      kind: "directory",
      directory: letsEncrypt,
    });
    expect(acmeCa("staging", { provider: "digitalocean" })).toEqual({
      kind: "directory",
      directory: letsEncryptStaging,
    });
  });

  it("acme.directory wins everywhere", () => {
    const directory = "https://acme.example.org/dir";
    expect(acmeCa("production", { provider: "digitalocean", acme: { directory } })).toEqual({
      kind: "directory",
      directory,
    });
  });

  it("the dev agents (endpoints) stay on plain HTTP; every real cluster serves HTTPS", () => {
    expect(servesHttps(cluster.targets.dev!)).toBe(false);
    expect(servesHttps(cluster.targets.local!)).toBe(true);
    expect(servesHttps(cluster.targets.production!)).toBe(true);
  });
});

describe("certificates", () => {
  it("one per service, for all of its hostnames, named for a Nomad variable path (no dots)", () => {
    expect(certificateSpecs(local)).toEqual([
      {
        service: "elm-lang.org",
        name: "elm-lang-org",
        domains: ["elm-lang.org", "www.elm-lang.org"],
      },
      {
        service: "package.elm-lang.org",
        name: "package-elm-lang-org",
        domains: ["package.elm-lang.org"],
      },
    ]);
  });

  it("www. redirects only where the apex is also a hostname of the service", () => {
    expect(splitWwwRedirects(["elm-lang.org", "www.elm-lang.org"])).toEqual({
      served: ["elm-lang.org"],
      redirected: ["www.elm-lang.org"],
    });
    expect(splitWwwRedirects(["www.example.org"])).toEqual({
      served: ["www.example.org"],
      redirected: [],
    });
  });

  const issued = (lifetimeMs: number) => ({
    notBefore: new Date(0),
    notAfter: new Date(lifetimeMs),
  });

  // The rule the issuer runs: jobs/acme-issuer.sh's renewal_due, with the RENEWAL_DIVISOR its
  // rendered job sets (from tls.ts). A script, job or divisor that disagreed with this table fails.
  const script = readFileSync(resolve(root, "jobs/acme-issuer.sh"), "utf8");
  const renewalDueFunction = /^renewal_due\(\) \{.*\}$/m.exec(script)?.[0];
  const renderedEnv = async (acme?: { renewBefore: string }) => {
    const vars = acmeIssuerJobVars(
      { ...local, target: { ...local.target, ...(acme ? { acme } : {}) } },
      {
        legoVersion: "4.26.0",
        ca: { directory: "https://pebble:14000/dir", extraHosts: [] },
        script,
      },
    );
    const hcl = await renderTemplateFile(resolve(root, "jobs/acme-issuer.nomad.hbs"), vars);
    const env = (name: string) => new RegExp(`^\\s*${name}\\s*=\\s*"([^"]*)"$`, "m").exec(hcl)?.[1];
    return { RENEWAL_DIVISOR: env("RENEWAL_DIVISOR")!, RENEW_BEFORE: env("RENEW_BEFORE")! };
  };
  const renderedDivisor = async () => (await renderedEnv()).RENEWAL_DIVISOR;
  const renewalDue = async (left: number, lifetime: number, acme?: { renewBefore: string }) => {
    const run = spawnSync(
      "sh",
      ["-c", `${renewalDueFunction}\nrenewal_due "$1" "$2"`, "sh", String(left), String(lifetime)],
      { env: { ...(await renderedEnv(acme)), PATH: process.env.PATH }, encoding: "utf8" },
    );
    expect(run.stderr).toBe("");
    return run.status === 0;
  };

  it("the issuer's job gives its script the divisor of tls.ts, and the script uses no other", async () => {
    expect(renewalDueFunction).toBeDefined();
    expect(await renderedDivisor()).toBe(String(renewalDivisor));
    expect(script).toContain('if renewal_due "$left" "$lifetime"; then');
    // Warnings (status --check) come after renewal should have happened.
    expect(warningDivisor).toBeGreaterThan(renewalDivisor);
  });

  it.each([
    ["with two thirds left", 90, 30, false],
    ["with just over a third left", 90, 59, false],
    ["with under a third left (30 of 90 days)", 90, 61, true],
    ["expired", 90, 91, true],
  ])("the issuer renews a certificate %s: %s", async (_, lifetimeDays, elapsedDays, due) => {
    const day = 86_400;
    const left = (lifetimeDays - elapsedDays) * day;
    expect(await renewalDue(left, lifetimeDays * day)).toBe(due);
  });

  // The target's acme.renewBefore (the e2e's 900 s certificates, renewed with 700 s left).
  it.each([
    ["none set: the third only", undefined, 400, false],
    ["none set: under a third", undefined, 299, true],
    ["700s: with 701 s left", "700s", 701, false],
    ["700s: with 699 s left", "700s", 699, true],
    ["700s: under a third too", "700s", 100, true],
  ])("renewBefore %s", async (_, renewBefore, left, due) => {
    const acme = renewBefore ? { renewBefore } : undefined;
    expect((await renderedEnv(acme)).RENEW_BEFORE).toBe(renewBefore ? "700" : "0");
    expect(await renewalDue(left, 900, acme)).toBe(due);
  });

  // jobs/acme-issuer.sh's backoff after failed issuances, run as the issuer runs it.
  const backoffFunction = /^backoff_seconds\(\) \{.*\}$/m.exec(script)?.[0];
  const ninetyDays = 90 * 86_400;
  it.each([
    // Let's Encrypt's interval (300 s): 1, 2, 4, 8 … intervals, never more than an hour.
    [300, 1, "", 300],
    [300, 2, "", 600],
    [300, 4, "", 2400],
    [300, 5, "", 3600],
    [300, 50, "", 3600],
    // A renewal of a 90-day certificate: the same hour at most.
    [300, 50, String(ninetyDays), 3600],
    // Pebble's (5 s) in the e2e: a failure costs seconds, not minutes.
    [5, 1, "", 5],
    [5, 3, "", 20],
    // A renewal of its 5-minute certificates that failed while DNS was wrong: tried again every
    // 30 s at most (a tenth of the lifetime), never past the old one's expiry (100 s after due).
    [5, 5, "300", 30],
    [5, 12, "300", 30],
    // A tenth of the lifetime under the check interval: the check interval.
    [300, 3, "600", 300],
  ])(
    "the issuer waits, every %i s, after %i failed tries in a row (lifetime %s): %i s",
    (interval, failures, lifetime, seconds) => {
      expect(backoffFunction).toBeDefined();
      expect(script).toContain('wait_s="$(backoff_seconds "$failures" "$lifetime")"');
      const run = spawnSync(
        "sh",
        [
          "-c",
          `${backoffFunction}
backoff_seconds "$1" "$2"`,
          "sh",
          String(failures),
          lifetime,
        ],
        {
          env: { CHECK_INTERVAL: String(interval), PATH: process.env.PATH },
          encoding: "utf8",
        },
      );
      expect(run.stderr).toBe("");
      expect(run.stdout.trim()).toBe(String(seconds));
    },
  );

  // jobs/acme-issuer.sh's release_lock, run as the issuer runs it, against the answers Nomad gives.
  // A lock whose TTL ran out is refused with 500 "variable doesn't hold a lock" (Nomad 1.10.5,
  // asked through a client agent or a server): kept, that id would block the issuer for good.
  const releaseFunction = /^release_lock\(\) \{\n[\s\S]*?\n\}$/m.exec(script)?.[0];
  const stopFunction = /^stop_keeping_lock\(\) \{\n[\s\S]*?\n\}$/m.exec(script)?.[0];
  it.each([
    ["200", "", 10, "", ""],
    ["409", "", 10, "", ""],
    ["500", "rpc error: variable doesn't hold a lock", 10, "", "it is no longer held"],
    ["500", "rpc error: No cluster leader", 10, "lock-1", "tried again later"],
    ["000", "", 10, "lock-1", "tried again later"],
    ["000", "", 400, "", "it has expired by now"],
  ])(
    "the issuer's release of its lock answered %s '%s', taken %i s ago: the id it keeps is '%s' (%s)",
    (status, body, age, kept, says) => {
      expect(releaseFunction).toBeDefined();
      expect(stopFunction).toBeDefined();
      const work = mkdtempSync(join(tmpdir(), "issuer-lock-"));
      writeFileSync(join(work, "lock.id"), "lock-1\n");
      writeFileSync(join(work, "lock.at"), `${Math.floor(Date.now() / 1000) - age}\n`);
      const run = spawnSync(
        "sh",
        [
          "-c",
          `nomad() { cat >/dev/null; printf %s "$BODY" >"$work/answer.json"; echo "$STATUS"; }
log() { echo "log: $*"; }
${stopFunction}
${releaseFunction}
lock_id=lock-1 renewer=""
release_lock; echo "rc=$? id=$lock_id"`,
        ],
        {
          env: {
            STATUS: status,
            BODY: body,
            LOCK_PATH: "acme/lock",
            LOCK_TTL_SECONDS: "150",
            work,
            PATH: process.env.PATH,
          },
          encoding: "utf8",
        },
      );
      expect(run.stderr).toBe("");
      expect(run.stdout).toContain(`rc=${kept ? 1 : 0} id=${kept}`);
      expect(existsSync(join(work, "lock.id"))).toBe(kept !== "");
      expect(existsSync(join(work, "lock.at"))).toBe(kept !== "");
      if (says) expect(run.stdout).toContain(says);
      else expect(run.stdout).not.toContain("log:");
      rmSync(work, { recursive: true, force: true });
    },
  );

  // The lock is renewed while held, so its TTL can be short: one left by an issuer that died
  // holding it is free again within a minute of its last renewal (or of a change of leader).
  it("the issuer renews its lock while it holds it, stops at release, and stops on a refusal", async () => {
    const fn = (name: string) =>
      new RegExp(`^${name}\\(\\) \\{\\n[\\s\\S]*?\\n\\}$`, "m").exec(script)?.[0];
    const [acquire, keep, stop, release] = [
      fn("acquire_lock"),
      fn("keep_lock"),
      fn("stop_keeping_lock"),
      fn("release_lock"),
    ];
    for (const f of [acquire, keep, stop, release]) expect(f).toBeDefined();
    const work = mkdtempSync(join(tmpdir(), "issuer-renew-"));
    // Nomad stands in: each call recorded; acquire answers a lock id; a renewal answers $RENEW.
    const run = (renew: string, heldMs: number) =>
      new Promise<string>((done) => {
        const child = spawn(
          "sh",
          [
            "-c",
            `nomad() { cat >/dev/null; echo "$2" >>"$work/calls"
  case "$2" in
  *lock-acquire) echo '{"Lock":{"ID":"lock-7"}}' >"\${NOMAD_ANSWER:-$work/answer.json}"; echo 200 ;;
  *lock-renew) echo "$RENEW_BODY" >"\${NOMAD_ANSWER:-$work/answer.json}"; echo "$RENEW" ;;
  *) echo 200 ;;
  esac; }
log() { echo "log: $*"; }
${keep}
${stop}
${release}
${acquire}
lock_id="" renewer=""
acquire_lock; echo "acquired $lock_id"
sleep ${heldMs / 1000}
release_lock; echo "released rc=$? id=$lock_id"
sleep 1; echo "renewals after: $(grep -c lock-renew "$work/calls")"`,
          ],
          {
            env: {
              work,
              RENEW: renew,
              RENEW_BODY: renew === "200" ? "{}" : "variable doesn't hold a lock",
              LOCK_PATH: "acme/lock",
              LOCK_TTL_SECONDS: "30",
              LOCK_RENEW_SECONDS: "0.3",
              NOMAD_ALLOC_ID: "alloc-1",
              PATH: process.env.PATH,
            },
          },
        );
        let out = "";
        child.stdout.on("data", (c: Buffer) => (out += c.toString()));
        child.stderr.on("data", (c: Buffer) => (out += `stderr: ${c.toString()}`));
        child.on("exit", () => done(out));
      });
    const renewals = () =>
      readFileSync(join(work, "calls"), "utf8")
        .split("\n")
        .filter((l) => l.endsWith("lock-renew")).length;

    const held = await run("200", 1600);
    expect(held).toContain("acquired lock-7");
    expect(held).toContain("released rc=0 id=");
    expect(held).not.toContain("stderr:");
    const whileHeld = renewals();
    expect(whileHeld).toBeGreaterThanOrEqual(3);
    // Nothing renewed after the release: the count a second later is the same.
    expect(held).toContain(`renewals after: ${whileHeld}`);

    rmSync(join(work, "calls"));
    const lost = await run("500", 1600);
    expect(lost).toContain(
      "log: renewing the lock acme/lock answered 500: variable doesn't hold a lock",
    );
    // One refusal ends the renewals.
    expect(renewals()).toBe(1);
    rmSync(work, { recursive: true, force: true });
  });

  // SIGUSR1 (bring-up's wake, once DNS points every hostname here) ends the issuer's sleep at
  // once and drops its backoff: the script's own trap and sleep, run as the issuer runs them.
  it("SIGUSR1 wakes the issuer from its sleep and drops the backoff of every certificate", async () => {
    const trap = /^trap .* USR1$/m.exec(script)?.[0];
    const sleeping = /^ {2}if \[ -z "\$woken" \]; then\n[\s\S]*?\n {2}woken=""$/m.exec(script)?.[0];
    expect(trap).toBeDefined();
    expect(sleeping).toBeDefined();
    const work = mkdtempSync(join(tmpdir(), "elm-infra-issuer-"));
    writeFileSync(join(work, "next-elm-lang.org"), String(Date.now() / 1000 + 3600));
    const started = Date.now();
    const issuer = spawn(
      "sh",
      ["-c", `log() { echo "$*"; }\n${trap}\nwoken=""\necho asleep\n${sleeping}`],
      {
        env: { CHECK_INTERVAL: "300", PATH: process.env.PATH, work },
      },
    );
    let out = "";
    issuer.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out === "asleep\n") issuer.kill("SIGUSR1");
    });
    const code = await new Promise((done) => issuer.on("exit", done));
    expect(code).toBe(0);
    expect(out).toMatch(/^asleep\n.*woken: looking at the certificates now\n$/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(existsSync(join(work, "next-elm-lang.org"))).toBe(false);
    rmSync(work, { recursive: true, force: true });
  });

  it("status --check warns under a quarter of the lifetime left, and after expiry", () => {
    const cert = issued(600_000);
    expect(expiryProblem(cert, new Date(400_000))).toBeUndefined();
    expect(expiryProblem(cert, new Date(500_000))).toMatch(
      /expires at 1970-01-01T00:10:00.000Z \(100 s left\): the issuer has not renewed it/,
    );
    expect(expiryProblem(cert, new Date(600_001))).toMatch(/^expired at/);
  });

  it("bring-up counts a stored certificate only while it has a minute left: an expiring one is waited for", () => {
    const { notAfter } = issued(600_000);
    expect(outlivesMargin(notAfter, new Date(500_000))).toBe(true);
    expect(outlivesMargin(notAfter, new Date(540_000))).toBe(true);
    expect(outlivesMargin(notAfter, new Date(540_001))).toBe(false);
    expect(outlivesMargin(notAfter.toISOString(), new Date(700_000))).toBe(false);
  });
});

describe("the acme-issuer job", () => {
  const vars = acmeIssuerJobVars(local, {
    legoVersion: "4.26.0",
    ca: {
      directory: "https://pebble:14000/dir",
      extraHosts: ["pebble:10.213.0.3"],
      directoryCa: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n",
    },
    script: "#!/bin/sh\necho ${HOME} %{x}\n",
  });

  it("issues every certificate from the target's CA, under one lock, checking often for short ones", () => {
    expect(vars.certificates).toBe(
      "elm-lang-org=elm-lang.org,www.elm-lang.org package-elm-lang-org=package.elm-lang.org",
    );
    expect(vars.image).toBe("10.213.0.5:5000/acme-issuer:v4.26.0");
    expect(vars.caFile).toBe("/local/acme-ca.pem");
    expect(vars.checkInterval).toBe(5);
    expect(vars.email).toBe("hostmaster@elm-lang.org");
  });

  it("renders to HCL with the script and the CA intact (no HCL or Nomad template expansion in them)", async () => {
    const hcl = await renderTemplateFile(resolve(root, "jobs/acme-issuer.nomad.hbs"), vars);
    expect(hcl).toContain('data            = "#!/bin/sh\\necho $${HOME} %%{x}\\n"');
    expect(hcl).toContain('left_delimiter  = "[[elm-infra-none["');
    expect(hcl).toContain('extra_hosts = ["pebble:10.213.0.3"]');
    expect(hcl).toContain("identity {\n        env = true");
    expect(hcl).toContain('destination     = "local/acme-ca.pem"');
  });

  it("routes the HTTP-01 challenges on plain HTTP, above the redirect to HTTPS", () => {
    expect(challengeTags()).toEqual(
      expect.arrayContaining([
        "traefik.http.routers.acme-challenge.rule=PathPrefix(`/.well-known/acme-challenge/`)",
        "traefik.http.routers.acme-challenge.entrypoints=web",
        "traefik.http.routers.acme-challenge.priority=100000",
      ]),
    );
  });

  it("uses the registry's image elsewhere, and acme.email when given", () => {
    expect(issuerImage({ registry: "registry.digitalocean.com/elm" }, "4.26.0")).toBe(
      "registry.digitalocean.com/elm/acme-issuer:v4.26.0",
    );
    expect(
      issuerImage({ registry: { push: "127.0.0.1:15000", pull: "10.213.0.5:5000" } }, "v4.26.0"),
    ).toBe("10.213.0.5:5000/acme-issuer:v4.26.0");
    expect(issuerImage({ registry: "none" }, "4.26.0")).toBe("elm-infra/acme-issuer:v4.26.0");
    expect(
      acmeEmail({
        target: { ...cluster.targets.production!, acme: { email: "ops@elm-lang.org" } },
        services: cluster.services,
      }),
    ).toBe("ops@elm-lang.org");
  });

  it("ACL policies: the issuer writes certs/, its lock and its ACME account, the ingress only reads certs/", () => {
    const [issuer, ingress] = acmePolicies();
    expect(issuer).toMatchObject({ jobId: "acme-issuer" });
    expect(issuer!.rules).toContain(
      'path "certs/*" {\n      capabilities = ["read", "write", "list"]',
    );
    expect(issuer!.rules).toContain('path "acme/lock"');
    expect(issuer!.rules).toContain(
      'path "acme/account" {\n      capabilities = ["read", "write"]',
    );
    expect(ingress).toMatchObject({ jobId: "ingress" });
    expect(ingress!.rules).toContain('capabilities = ["read", "list"]');
    expect(ingress!.rules).not.toContain("write");
  });
});
