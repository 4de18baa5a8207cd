import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";

/**
 * The layers of src/, top first. A module may import from its own layer or any layer below it,
 * never from one above. index.ts is the SDK's public surface and may export anything.
 *
 *   index.ts (SDK surface)
 *   cli/ tools/                 argv -> command (the only code that prints final errors and exits);
 *                               entries the repo's scripts run (npm run local)
 *   commands/                   one file per verb
 *   tasks/                      runner, context, step factories shared by the verbs
 *   cluster/ and plan/          reach a target; pure planners (plan/ never imports cluster/)
 *   adapters                    nomad/ consul/ traefik/ terraform/ ansible/ ssh/ docker/ digitalocean/
 *                               dns/ git/ notify/ store/ age/
 *   config/ output/ errors.ts http.ts wait.ts lock.ts
 *
 * Only adapters (and http.ts, the one HTTP wrapper they share) import the libraries that talk to
 * the world: undici, ssh2, dockerode, docker-modem, execa, child_process, the S3 client.
 */
const layers: ReadonlyArray<{ name: string; members: readonly string[] }> = [
  { name: "sdk", members: ["index.ts"] },
  { name: "cli", members: ["cli/", "tools/"] },
  { name: "commands", members: ["commands/"] },
  { name: "tasks", members: ["tasks/"] },
  { name: "cluster & plan", members: ["cluster/", "plan/"] },
  {
    name: "adapters",
    members: [
      "nomad/",
      "consul/",
      "traefik/",
      "terraform/",
      "ansible/",
      "ssh/",
      "docker/",
      "digitalocean/",
      "dns/",
      "git/",
      "notify/",
      "store/",
      "age/",
    ],
  },
  {
    name: "foundation",
    members: ["config/", "output/", "errors.ts", "http.ts", "wait.ts", "lock.ts"],
  },
];

const worldLibraries = [
  "undici",
  "ssh2",
  "dockerode",
  "docker-modem",
  "@aws-sdk/client-s3",
  "execa",
  "child_process",
  "node:child_process",
];
const mayTalkToTheWorld = [
  ...(layers.find((l) => l.name === "adapters")?.members ?? []),
  "http.ts",
];

export interface ImportSite {
  /** What the code names: `../commands/deploy.js`, `undici`. */
  specifier: string | undefined;
  kind: "static" | "dynamic";
  line: number;
}

/**
 * Every import of a TypeScript file, read with the TypeScript compiler's own parser: `import`
 * and `export ... from` (type-only too), `import("...")` calls, `import("...")` types, and
 * `require(...)`. A dynamic import whose specifier is not a string literal has none.
 */
export function importsOf(file: string): ImportSite[] {
  const text = readFileSync(file, "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const sites: ImportSite[] = [];
  const add = (node: ts.Node, expr: ts.Node | undefined, kind: ImportSite["kind"]) => {
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    const specifier = expr && ts.isStringLiteralLike(expr) ? expr.text : undefined;
    sites.push({ specifier, kind, line });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      if (node.moduleSpecifier) add(node, node.moduleSpecifier, "static");
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference)
    ) {
      add(node, node.moduleReference.expression, "static");
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword) add(node, node.arguments[0], "dynamic");
      else if (ts.isIdentifier(callee) && callee.text === "require")
        add(node, node.arguments[0], "dynamic");
    } else if (ts.isImportTypeNode(node)) {
      const argument = node.argument;
      if (ts.isLiteralTypeNode(argument)) add(node, argument.literal, "static");
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return sites;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|cts)$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

const posixPath = (path: string) => path.split(sep).join("/");

function layerIndex(path: string): number {
  return layers.findIndex((l) =>
    l.members.some((m) => (m.endsWith("/") ? path.startsWith(m) : path === m)),
  );
}

/** Every import that breaks the layering of the tree at `root`, as `file:line: what`. */
export function layeringViolations(root: string): string[] {
  const violations: string[] = [];
  for (const file of sourceFiles(root).sort()) {
    const from = posixPath(relative(root, file));
    const fromLayer = layerIndex(from);
    if (fromLayer === -1) {
      violations.push(`${from}: is in no layer (place its folder in the layer list)`);
      continue;
    }
    for (const site of importsOf(file)) {
      const where = `${from}:${site.line}`;
      const how = site.kind === "dynamic" ? "dynamic import" : "imports";
      if (site.specifier === undefined) {
        violations.push(`${where}: ${how} a computed specifier (its layer cannot be checked)`);
        continue;
      }
      if (!site.specifier.startsWith(".")) {
        const library = site.specifier;
        const restricted = worldLibraries.some((l) => library === l || library.startsWith(`${l}/`));
        const allowed = mayTalkToTheWorld.some((m) =>
          m.endsWith("/") ? from.startsWith(m) : from === m,
        );
        if (restricted && !allowed)
          violations.push(`${where}: ${how} ${library}, which only adapters may use`);
        continue;
      }
      const target = posixPath(
        relative(root, resolve(dirname(file), site.specifier)).replace(/\.js$/, ".ts"),
      );
      if (target.startsWith("../")) {
        violations.push(`${where}: ${how} ${site.specifier}, outside the tree`);
        continue;
      }
      const toLayer = layerIndex(target);
      if (toLayer !== -1 && toLayer < fromLayer) {
        violations.push(
          `${where}: ${how} ${target} (${layers[toLayer]!.name}) from below (${layers[fromLayer]!.name})`,
        );
      } else if (from.startsWith("plan/") && target.startsWith("cluster/")) {
        violations.push(`${where}: ${how} ${target}: plan/ is pure and never reaches a cluster`);
      }
    }
  }
  return violations;
}

/**
 * The circles of static imports (type-only ones too) in the tree at `root`: the shortest circle
 * through each file that is on one, as `a.ts -> b.ts -> a.ts` from its first file in sorted order.
 * Two modules that need each other are one concern split in two, and which one loads first
 * decides what the other sees. A dynamic import() is how a circle is meant to be broken, so it
 * does not count.
 */
export function importCycles(root: string): string[] {
  const files = sourceFiles(root).sort();
  const known = new Set(files);
  const name = (file: string) => posixPath(relative(root, file));
  const edges = new Map<string, string[]>();
  for (const file of files) {
    const targets = importsOf(file)
      .filter((site) => site.kind === "static" && site.specifier?.startsWith("."))
      .map((site) => resolve(dirname(file), site.specifier!).replace(/\.js$/, ".ts"))
      .filter((target) => known.has(target))
      .map(name);
    edges.set(name(file), [...new Set(targets)].sort());
  }
  // The shortest way back to each file from itself, by breadth-first search: one line per circle.
  const circles = new Set<string>();
  for (const start of edges.keys()) {
    const cameFrom = new Map<string, string>();
    const queue = [...(edges.get(start) ?? [])];
    for (const next of queue) cameFrom.set(next, start);
    while (queue.length > 0 && !cameFrom.has(start)) {
      const at = queue.shift()!;
      for (const next of edges.get(at) ?? [])
        if (!cameFrom.has(next)) {
          cameFrom.set(next, at);
          queue.push(next);
        }
    }
    if (!cameFrom.has(start)) continue;
    const path = [start];
    for (let at = cameFrom.get(start)!; at !== start; at = cameFrom.get(at)!) path.unshift(at);
    // The same circle found from each of its files: written from its first file in sorted order.
    const first = path.indexOf([...path].sort()[0]!);
    const turned = [...path.slice(first), ...path.slice(0, first)];
    circles.add([...turned, turned[0]].join(" -> "));
  }
  return [...circles].sort();
}

/**
 * The shapes that have one helper each, and the only modules that may use the primitives under
 * them: a pause or a deadline loop is src/wait.ts's waitFor/sleep, an operation ended on Ctrl-C
 * its abortable; connecting to a target's APIs and closing them is cluster/connect.ts's
 * withCluster/withManagers.
 */
const waitModule = "wait.ts";
const connectModule = "cluster/connect.ts";
/** Timers that bound one operation (a connection, a handshake, a read), never a pause. */
const operationTimers = ["ssh/connection.ts", "docker/client.ts", "traefik/served-certificate.ts"];
const connectors = new Set(["connectToCluster", "connectToManagers"]);
/** Each lock's own acquire, behind the Lock interface (src/lock.ts: withLock). */
const lockAcquirers: Record<string, string> = {
  acquireLock: "consul/lock.ts",
  acquireOperationsLock: "cluster/operations-lock.ts",
};

/**
 * Every wait or connection written outside its helper in the tree at `root`, as
 * `file:line: what`: a setTimeout (a hand-made sleep; a timer that bounds one operation is
 * allowed where listed), a polling loop (while, do, for) that sleeps or reads the clock in its
 * condition, an abort listener added by hand (wait.ts's abortable ends one operation on Ctrl-C),
 * a connect call or a `.close()` on a target's APIs, a lock acquired by hand instead of through
 * its Lock. Read with the compiler's parser.
 */
export function shapeViolations(root: string): string[] {
  const violations: string[] = [];
  for (const file of sourceFiles(root).sort()) {
    const from = posixPath(relative(root, file));
    if (from === waitModule) continue;
    const source = ts.createSourceFile(
      file,
      readFileSync(file, "utf8"),
      ts.ScriptTarget.Latest,
      true,
    );
    const at = (node: ts.Node) =>
      `${from}:${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1}`;
    const visit = (node: ts.Node, inLoop: boolean): void => {
      // A function's body is its own: a sleep in a callback is not the enclosing loop's.
      if (ts.isFunctionLike(node)) inLoop = false;
      if (isTimerCall(node) && !operationTimers.includes(from))
        violations.push(`${at(node)}: setTimeout outside ${waitModule} (use waitFor or sleep)`);
      if (isLoop(node)) {
        const condition = loopCondition(node);
        if (condition && mentions(condition, (n) => isCall(n, "Date", "now")))
          violations.push(`${at(node)}: a loop on the clock outside ${waitModule} (use waitFor)`);
      }
      if (ts.isCallExpression(node)) {
        const callee = node.expression;
        if (inLoop && ts.isIdentifier(callee) && callee.text === "sleep")
          violations.push(`${at(node)}: a loop that sleeps outside ${waitModule} (use waitFor)`);
        if (isAbortListener(node))
          violations.push(
            `${at(node)}: an abort listener outside ${waitModule} (use abortable, sleep or waitFor)`,
          );
        if (ts.isIdentifier(callee) && connectors.has(callee.text) && from !== connectModule)
          violations.push(`${at(node)}: ${callee.text} outside ${connectModule} (use withCluster)`);
        const owner = ts.isIdentifier(callee) ? lockAcquirers[callee.text] : undefined;
        if (owner && from !== owner && ts.isIdentifier(callee))
          violations.push(`${at(node)}: ${callee.text} outside ${owner} (use withLock)`);
        if (
          ts.isPropertyAccessExpression(callee) &&
          callee.name.text === "close" &&
          ts.isIdentifier(callee.expression) &&
          /apis$/i.test(callee.expression.text) &&
          from !== connectModule
        )
          violations.push(`${at(node)}: closes a target's APIs by hand (use withCluster)`);
      }
      // A for-of over a list may pause between its items (pacing); a loop that polls is the
      // other kinds: while, do, for(;;).
      const bodyInLoop =
        inLoop || (isLoop(node) && !ts.isForOfStatement(node) && !ts.isForInStatement(node));
      ts.forEachChild(node, (child) => visit(child, bodyInLoop));
    };
    visit(source, false);
  }
  return violations;
}

/** `x.addEventListener("abort", ...)`: listening to a signal by hand (and forgetting to stop). */
function isAbortListener(node: ts.CallExpression): boolean {
  const callee = node.expression;
  const event = node.arguments[0];
  return (
    ts.isPropertyAccessExpression(callee) &&
    callee.name.text === "addEventListener" &&
    event !== undefined &&
    ts.isStringLiteralLike(event) &&
    event.text === "abort"
  );
}

/** `setTimeout(...)`, `timers.setTimeout(...)`, `globalThis.setTimeout(...)`; not `socket.setTimeout`. */
function isTimerCall(node: ts.Node): boolean {
  if (!ts.isCallExpression(node)) return false;
  const callee = node.expression;
  if (ts.isIdentifier(callee)) return callee.text === "setTimeout";
  return (
    ts.isPropertyAccessExpression(callee) &&
    callee.name.text === "setTimeout" &&
    ts.isIdentifier(callee.expression) &&
    ["timers", "globalThis", "global"].includes(callee.expression.text)
  );
}

function isLoop(node: ts.Node): node is ts.IterationStatement {
  return (
    ts.isWhileStatement(node) ||
    ts.isDoStatement(node) ||
    ts.isForStatement(node) ||
    ts.isForOfStatement(node) ||
    ts.isForInStatement(node)
  );
}

function loopCondition(node: ts.IterationStatement): ts.Node | undefined {
  if (ts.isWhileStatement(node) || ts.isDoStatement(node)) return node.expression;
  if (ts.isForStatement(node)) return node.condition;
  return undefined;
}

function mentions(node: ts.Node, test: (n: ts.Node) => boolean): boolean {
  return test(node) || (ts.forEachChild(node, (c) => mentions(c, test) || undefined) ?? false);
}

function isCall(node: ts.Node, object: string, method: string): boolean {
  return (
    ts.isCallExpression(node) &&
    ts.isPropertyAccessExpression(node.expression) &&
    ts.isIdentifier(node.expression.expression) &&
    node.expression.expression.text === object &&
    node.expression.name.text === method
  );
}
