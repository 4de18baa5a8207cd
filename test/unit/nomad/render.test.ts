import { describe, expect, it } from "vitest";
import {
  compiledTemplate,
  escapeHclString,
  renderTemplate,
  renderTemplateFile,
  TemplateError,
} from "../../../src/nomad/render.js";
import { renderIngressJob, renderServiceJob } from "../../../src/plan/jobs.js";
import { serviceJobVars, traefikTags } from "../../../src/plan/job-vars.js";
import { parseCluster, parseYaml } from "../../../src/config/parse.js";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "../../..");
const cluster = parseCluster(
  parseYaml(readFileSync(resolve(root, "cluster.yaml"), "utf8"), "cluster.yaml"),
  "cluster.yaml",
);
const config = { root, target: cluster.targets.production!, services: cluster.services };

describe("escapeHclString", () => {
  it.each([
    ['say "hi"', 'say \\"hi\\"'],
    ["a\\b", "a\\\\b"],
    ["line1\nline2", "line1\\nline2"],
    ["${env.SECRET}", "$${env.SECRET}"],
    ["%{ if true }x%{ endif }", "%%{ if true }x%%{ endif }"],
    ["plain-1.4.2", "plain-1.4.2"],
  ])("escapes %j", (input, expected) => {
    expect(escapeHclString(input)).toBe(expected);
  });
});

describe("renderTemplate", () => {
  it("refuses a template that uses a variable elm-infra does not provide", () => {
    expect(() =>
      renderTemplate('job "{{job.id}}" { x = "{{nope}}" }', { job: { id: "a" } }),
    ).toThrow(TemplateError);
    expect(() =>
      renderTemplate('job "{{job.id}}" { x = "{{nope}}" }', { job: { id: "a" } }),
    ).toThrow(/"nope" not defined/);
  });

  it("does not HTML-escape (HCL is not HTML)", () => {
    expect(renderTemplate('rule = "{{r}}"', { r: "Host(`a.org`) && Header(`X`, `1`) <>&" })).toBe(
      'rule = "Host(`a.org`) && Header(`X`, `1`) <>&"',
    );
  });

  it("keeps hostile values inside their HCL string", () => {
    const hostile = '1.0" } task "evil" { driver = "raw_exec" config { command = "/bin/sh" } } #';
    const out = renderTemplate('image = "{{v}}"\n', { v: hostile });
    // The only unescaped quotes are the template's own two.
    expect(out.replace(/\\"/g, "").match(/"/g)).toHaveLength(2);
    expect(out).toContain('\\" } task \\"evil\\"');
  });

  it("compiles a template once and reuses it for the same text", () => {
    const source = 'job "{{id}}" {}';
    expect(compiledTemplate(source)).toBe(compiledTemplate(source));
    expect(compiledTemplate(`${source}\n`)).not.toBe(compiledTemplate(source));
  });

  it("serves an edited template file's new text, never the compiled old one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "elm-infra-render-"));
    try {
      const file = join(dir, "job.nomad.hbs");
      await writeFile(file, 'image = "{{v}}"');
      expect(await renderTemplateFile(file, { v: "a" })).toBe('image = "a"');
      await writeFile(file, 'image = "site:{{v}}"');
      expect(await renderTemplateFile(file, { v: "a" })).toBe('image = "site:a"');
      await writeFile(file, 'image = "{{v}}" x = "{{nope}}"');
      await expect(renderTemplateFile(file, { v: "a" })).rejects.toThrow(/"nope" not defined/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("neutralises interpolation in values", () => {
    expect(renderTemplate('x = "{{v}}"', { v: "${node.unique.name}" })).toBe(
      'x = "$${node.unique.name}"',
    );
  });
});

describe("service job", () => {
  it("renders elm-lang.org with canary, auto_revert, no auto_promote, checks and the version", async () => {
    const hcl = await renderServiceJob(config, { service: "elm-lang.org", version: "1.4.2" });
    expect(hcl).toContain('job "elm-lang.org"');
    expect(hcl).toMatch(/canary\s+= 1/);
    expect(hcl).toMatch(/auto_revert\s+= true/);
    expect(hcl).toMatch(/auto_promote\s+= false/);
    expect(hcl).toMatch(/shutdown_delay = "5s"/);
    expect(hcl).toContain('image      = "registry.digitalocean.com/elm-lang/elm-lang.org:1.4.2"');
    expect(hcl).toContain('version = "1.4.2"');
    expect(hcl).toContain("Host(`elm-lang.org`) || Host(`www.elm-lang.org`)");
    expect(hcl).toContain("canary_tags");
    expect(hcl).toMatch(/path\s+= "\/health"/);
  });

  it("pins package.elm-lang.org's data volume", async () => {
    const hcl = await renderServiceJob(config, {
      service: "package.elm-lang.org",
      version: "2.0.1",
    });
    expect(hcl).toContain('volume "package-data"');
    expect(hcl).toContain('destination = "/data"');
  });

  it.each(["elm-lang.org", "package.elm-lang.org"])(
    "spreads %s's instances over the workers (a spread, so more instances than workers still place)",
    async (service) => {
      const hcl = await renderServiceJob(config, { service, version: "1.0.0" });
      expect(hcl).toMatch(
        /group "web" \{[^]*spread \{\s*attribute = "\$\{node\.unique\.id\}"\s*weight\s*= 100\s*\}/,
      );
      expect(hcl).not.toMatch(/distinct_hosts\s*=/);
    },
  );

  it("uses the local image name when the target has no registry (dev)", () => {
    const vars = serviceJobVars(
      { target: cluster.targets.dev!, services: cluster.services },
      { service: "elm-lang.org", version: "v2" },
    );
    expect(vars.image).toBe("elm-lang.org:v2");
  });

  it("names the local target's registry where its workers pull", () => {
    const vars = serviceJobVars(
      { target: cluster.targets.local!, services: cluster.services },
      { service: "elm-lang.org", version: "v2" },
    );
    expect(vars.image).toBe("10.213.0.5:5000/elm-lang.org:v2");
  });

  it("gives the canary its own router, reached only with the canary header on the canary entrypoint", () => {
    const { tags, canaryTags } = traefikTags("elm-lang.org", ["elm-lang.org"]);
    expect(tags).toContain("traefik.http.routers.elm-lang-org.rule=Host(`elm-lang.org`)");
    expect(tags).toContain("traefik.http.routers.elm-lang-org.entrypoints=web");
    expect(canaryTags.find((t) => t.includes("elm-lang-org-canary.rule"))).toContain(
      "Header(`X-Elm-Canary`, `1`)",
    );
    // Never on the public entrypoint: only the worker's loopback and the SSH tunnel reach it.
    expect(canaryTags).toContain("traefik.http.routers.elm-lang-org-canary.entrypoints=canary");
    expect(canaryTags.filter((t) => /\.entrypoints=/.test(t))).toHaveLength(1);
  });
});

describe("ingress job", () => {
  it("makes each worker's Traefik add X-Elm-Infra-Worker: <its name> on the web entrypoints", async () => {
    const hcl = await renderIngressJob(config, [
      { name: "t-worker-1", version: "3.6.12" },
      { name: "t-worker-2", version: "3.6.12" },
    ]);
    const groups = hcl.split(/\n {2}group "/).slice(1);
    expect(groups.map((g) => g.slice(0, g.indexOf('"')))).toEqual(["t-worker-1", "t-worker-2"]);
    for (const [i, g] of groups.entries()) {
      // the static configuration: both entrypoints use the middleware, the file provider has it
      expect(
        g.match(/middlewares: \["elm-infra-worker@file", "elm-infra-retry@file"/g),
      ).toHaveLength(2);
      expect(g).toMatch(/providers:\s*file:\s*directory: \/secrets\/dynamic\s*watch: true/);
      // the dynamic configuration that template renders, with this group's worker only
      expect(g).toMatch(
        new RegExp(
          `destination = "secrets/dynamic/worker.yml"[^]*elm-infra-worker:\\s*headers:\\s*customResponseHeaders:\\s*X-Elm-Infra-Worker: "t-worker-${i + 1}"`,
        ),
      );
      expect(g).not.toContain(`t-worker-${2 - i}"`);
    }
    // a request whose instance does not answer is retried on another, after a short dial
    expect(hcl).toMatch(/elm-infra-retry:\s*retry:\s*attempts: 4/);
    expect(hcl).toMatch(/forwardingTimeouts:\s*dialTimeout: "500ms"/);
    // the ping entrypoint (the load balancer's health check) stays as it was
    expect(hcl).not.toMatch(/ping:\s*address: "[^"]*"\s*http:/);
  });

  it("on an HTTPS target: certificates from the issuer's Nomad variables (watched, no restart), HTTP redirected but for the challenges, www. to the apex, HSTS", async () => {
    const hcl = await renderIngressJob(config, [{ name: "t-worker-1", version: "3.6.12" }]);
    expect(hcl).toMatch(
      /destination = "secrets\/dynamic\/certificates.yml"\s*perms\s*= "0600"\s*change_mode = "noop"/,
    );
    expect(hcl).toContain('{{- with nomadVarList "certs" }}');
    expect(hcl).toMatch(/certFile: \|\s*\{\{ \.cert\.Value \| indent 10 \}\}/);
    // HSTS on the HTTPS entrypoint only
    expect(hcl).toMatch(/websecure:[^]*"elm-infra-hsts@file"\]/);
    expect(hcl).toMatch(/elm-infra-hsts:\s*headers:\s*stsSeconds: 31536000/);
    // plain HTTP: one router of the lowest priority, redirecting; the challenge router is above it
    expect(hcl).toMatch(
      /elm-infra-to-https:\s*entryPoints: \["web"\]\s*rule: "PathPrefix\(`\/`\)"\s*priority: 1/,
    );
    expect(hcl).toMatch(/redirectScheme:\s*scheme: https\s*permanent: true/);
    expect(hcl).toContain('replacement: "https://$${1}$${2}"');
  });

  it("on the dev agents' target (plain HTTP): no certificates, no redirects, no HSTS", async () => {
    const hcl = await renderIngressJob({ ...config, target: cluster.targets.dev! }, [
      { name: "t-worker-1", version: "3.6.12" },
    ]);
    expect(hcl).not.toContain("certificates.yml");
    expect(hcl).not.toContain("elm-infra-to-https");
    expect(hcl).not.toContain("elm-infra-hsts");
  });
});

describe("HTTPS routes", () => {
  it("serve the apex on websecure with TLS, and redirect a www. hostname whose apex is served", () => {
    const { tags } = traefikTags("elm-lang.org", ["elm-lang.org", "www.elm-lang.org"], {
      https: true,
    });
    expect(tags).toEqual(
      expect.arrayContaining([
        "traefik.http.routers.elm-lang-org.rule=Host(`elm-lang.org`)",
        "traefik.http.routers.elm-lang-org.entrypoints=websecure",
        "traefik.http.routers.elm-lang-org.tls=true",
        "traefik.http.routers.elm-lang-org-www.rule=Host(`www.elm-lang.org`)",
        "traefik.http.routers.elm-lang-org-www.tls=true",
        "traefik.http.routers.elm-lang-org-www.middlewares=elm-infra-to-apex@file",
      ]),
    );
    expect(tags.filter((t) => t.endsWith("entrypoints=web"))).toEqual([]);
  });

  it("serve a www. hostname whose apex the service does not have", () => {
    const { tags } = traefikTags("w", ["www.example.org"], { https: true });
    expect(tags).toContain("traefik.http.routers.w.rule=Host(`www.example.org`)");
    expect(tags.join()).not.toContain("to-apex");
  });
});
