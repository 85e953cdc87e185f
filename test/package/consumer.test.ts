import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { runCleanupSteps } from "../support/cleanup";
import { ConsumerProject, Tarball, packTarball } from "../support/consumer";
import { TestLab, labAvailable } from "../support/lab";
import { repoRoot } from "../support/pulumi-cli";
import { markedCodeBlock } from "../support/readme-blocks";

// Issue #27: the library as a package, used the way a stranger uses it. `npm pack` of this
// checkout, installed by npm into a new Pulumi TypeScript project (the template's tsconfig,
// ts-node type-checking on) whose index.ts is the README's program, as printed.
const program = markedCodeBlock("consumer-ts", "ts");

describe("the package (npm pack of this checkout)", function () {
    this.timeout(120_000);
    let tarball: Tarball;
    before(function () {
        tarball = packTarball();
    });

    it("holds the built library, its host scripts, providers and policy pack, and no tests, benches, lab, stand-in or CI", function () {
        const files = tarball.files;
        const outside = files.filter((f) => !f.startsWith("dist/") && !["package.json", "README.md"].includes(f));
        assert.deepEqual(outside, [], "only dist/, package.json and README.md");
        assert.deepEqual(files.filter((f) => /(^|\/)(test|bench|lab|tools|stacks|\.ci)\//.test(f) || /\.test\.|\.tsbuildinfo$/.test(f)), []);
        for (const f of ["dist/components/index.js", "dist/components/index.d.ts", "dist/components/ec2.js", "dist/components/ec2.d.ts",
            "dist/providers/host-check.js", "dist/providers/host-support.js", "dist/providers/subids-ledger.js", "dist/providers/host-work.js",
            "dist/policy/index.js", "dist/policy/PulumiPolicy.yaml", "dist/policy/package.json", "dist/policy/analyzer.sh",
            "dist/components/provider/main.js", "dist/components/provider/pulumi-resource-hardened-hosts", "dist/components/provider/PulumiPlugin.yaml",
            "dist/components/provider/package.json"]) {
            assert.ok(files.includes(f), `${f} is in the tarball`);
        }
        // Every host script the sources ship, beside the module that sends it.
        const scripts = spawnSync("git", ["-C", repoRoot, "ls-files", "components/*.sh", "components/**/*.sh"], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
        assert.ok(scripts.length >= 10, scripts.join(" "));
        for (const s of scripts) assert.ok(files.includes(`dist/${s}`), `dist/${s} is in the tarball`);
        const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8"));
        assert.ok(pkg.peerDependencies["@pulumi/pulumi"] && !pkg.dependencies["@pulumi/pulumi"], "the SDK is the user's own copy");
        assert.ok(pkg.peerDependenciesMeta["@pulumi/aws"].optional && !pkg.dependencies["@pulumi/aws"], "EC2's SDK only for who uses it");
        const policy = JSON.parse(fs.readFileSync(path.join(repoRoot, "dist", "policy", "package.json"), "utf8"));
        assert.equal(policy.version, tarball.version);
    });

    it("ships providers that load the installed package's own modules (one line each, the same in every release) and behave as the sources do", async function () {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const fromString = require("require-from-string") as (code: string) => { handler: () => Record<string, (...a: unknown[]) => Promise<unknown>> };
        const built = (name: string) => fs.readFileSync(path.join(repoRoot, "dist", "providers", `${name}.js`), "utf8");
        const { ledgerProvider } = await import("../../components/subids/ledger");
        const news = { scope: "fleet", requests: [{ owner: "dockremap" }, { owner: "team-b", size: 131072 }] };
        const ledger = fromString(built("subids-ledger")).handler();
        assert.deepEqual(await ledger.check!(undefined, news), await ledgerProvider.check!(undefined as never, news));
        // Issue #29: the state holds this text in every resource of every host, so it is a reference
        // to the package's module (exported for it), resolved from the program's directory.
        const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8"));
        for (const name of ["subids-ledger", "host-check", "host-support", "host-work"]) {
            const text = built(name);
            assert.ok(text.length < 200 && text.trim().split("\n").length === 1, `${name}: ${text.length} bytes`);
            assert.deepEqual([...text.matchAll(/\(("[^"]+")\)/g)].map((m) => JSON.parse(m[1]!)), ["module", `hardened-hosts/providers/${name}`]);
            assert.ok(pkg.exports[`./providers/${name}`], `./providers/${name} is exported`);
            assert.ok(tarball.files.includes(pkg.exports[`./providers/${name}`].replace(/^\.\//, "")), `${name}'s module is in the tarball`);
            assert.ok(!text.includes(repoRoot), `${name} names no path of this machine`);
        }
    });
});

describe("a user's TypeScript project with the package installed", function () {
    this.timeout(900_000);
    let project: ConsumerProject;
    let tarball: Tarball;

    before(function () {
        tarball = packTarball();
        project = new ConsumerProject(program);
        project.npm("install", tarball.file);
    });
    after(function () {
        project?.dispose();
    });

    it("gets the package and its dependencies, not @pulumi/aws, and one @pulumi/pulumi", function () {
        const has = (m: string) => fs.existsSync(path.join(project.dir, "node_modules", m, "package.json"));
        assert.ok(has("hardened-hosts") && has("@pulumi/command") && has("ssh2"));
        assert.ok(!has("@pulumi/aws"), "@pulumi/aws is optional");
        const r = spawnSync("npm", ["ls", "@pulumi/pulumi", "--all", "--parseable"], { cwd: project.dir, encoding: "utf8" });
        assert.deepEqual([...new Set(r.stdout.split("\n").filter(Boolean))], [path.join(project.dir, "node_modules", "@pulumi", "pulumi")]);
    });

    it("importing the public entry registers nothing, hooks nothing in the process and loads no AWS SDK", function () {
        const r = project.node(`
            const Module = require("node:module");
            const pulumi = require("@pulumi/pulumi");
            const registered = [];
            pulumi.runtime.setMocks({
                newResource: (a) => { registered.push(a.type); return { id: a.name, state: a.inputs }; },
                call: (a) => { registered.push(a.token); return a.inputs; },
            });
            const snap = () => JSON.stringify({
                events: process.eventNames().map((n) => [String(n), process.listenerCount(n)]),
                extensions: Object.keys(Module._extensions),
                prepare: String(Error.prepareStackTrace),
                emitWarning: String(process.emitWarning),
                serialize: String(pulumi.runtime.serializeFunction),
                log: String(pulumi.log.debug),
                compile: String(Module.prototype._compile),
                resolve: String(Module._resolveFilename),
            });
            const before = snap();
            const lib = require("hardened-hosts");
            setTimeout(() => {
                process.stdout.write(JSON.stringify({
                    same: before === snap(), registered,
                    aws: Object.keys(require.cache).filter((f) => f.includes("/@pulumi/aws/")).length,
                    exports: Object.keys(lib).length, fleet: typeof lib.HardenedFleet,
                }));
            }, 200);
        `);
        assert.equal(r.status, 0, r.stderr);
        const out = JSON.parse(r.stdout);
        assert.deepEqual(out, { same: true, registered: [], aws: 0, exports: out.exports, fleet: "function" });
        assert.ok(out.exports > 20);
    });

    it("type-checks the README's program with the template's tsconfig", function () {
        const r = spawnSync(path.join(project.dir, "node_modules", ".bin", "tsc"), ["--noEmit", "-p", project.dir], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stdout + r.stderr);
    });

    it("stops bad input at preview, naming every wrong argument, creating nothing", function () {
        const stack = "bad-input";
        project.ok(["stack", "init", stack]);
        try {
            project.ok(["config", "set", "--path", "hosts[0].name", "Edge_1"]);
            project.ok(["config", "set", "--path", "hosts[0].address", "192.0.2.10"]);
            project.ok(["config", "set", "--path", "hosts[0].hostKey", "not a key"]);
            project.ok(["config", "set", "--secret", "sshPrivateKey", "not-a-key"]);
            const r = project.pulumi(["preview"]);
            const out = r.stdout + r.stderr;
            assert.notEqual(r.status, 0, out);
            assert.match(out, /hosts\.Edge_1: host names must match/);
            assert.doesNotMatch(out, /command:remote:Command|HardenedHost/);
        } finally {
            project.pulumi(["stack", "rm", "--yes", "--force", stack]);
        }
    });

    describe("on two lab hosts", function () {
        const FILES = ["/etc/subuid", "/etc/subgid", "/etc/docker/daemon.json"];
        const STACK = "dev";
        let lab: TestLab;
        let original: Record<string, Record<string, string | null>>;
        const names = () => lab.inventory.hosts.map((h) => h.name);

        before(function () {
            const why = labAvailable();
            if (why) this.skip();
            lab = new TestLab({ name: "pkg", portBase: 22580, net: 88, hosts: 2, profile: "busy" });
            lab.up();
            // Docker with no workloads: what a switch does to containers is lab-shared's and lab-stack's subject.
            lab.removeContainers();
            original = Object.fromEntries(names().map((n) => [n, lab.snapshot(n, FILES)]));
            project.ok(["stack", "init", STACK]);
            lab.inventory.hosts.forEach((h, i) => {
                for (const [k, v] of Object.entries({ name: h.name, address: h.address, port: String(h.port), user: h.user, hostKey: h.hostKey })) {
                    project.ok(["config", "set", "--path", `hosts[${i}].${k}`, v]);
                }
            });
            const key = fs.readFileSync(lab.inventory.hosts[0]!.privateKeyFile, "utf8");
            const set = spawnSync("bash", ["-c", `source "${repoRoot}/scripts/pulumi-env.sh" && pulumi config set --secret sshPrivateKey`],
                { cwd: project.dir, input: key, encoding: "utf8", env: { ...process.env, PULUMI_BACKEND_URL: `file://${project.stateDir}`, PULUMI_CONFIG_PASSPHRASE: "consumer" } });
            assert.equal(set.status, 0, set.stderr);
        });
        after(function () {
            if (!lab) return;
            runCleanupSteps([
                ["destroy", () => project.pulumi(["destroy", "--yes", "--stack", STACK])],
                ["lab down", () => lab.down()],
            ]);
        });

        it("previews, ups with every check passed, and previews no change", function () {
            const preview = project.ok(["preview", "--diff"]);
            assert.match(preview.stdout, /team-a:\d+:65536/);
            project.ok(["up", "--yes"]);
            const summary = JSON.parse(project.ok(["stack", "output", "summary", "--json"]).stdout);
            assert.equal(summary.hostsPassed, 2, JSON.stringify(summary));
            assert.equal(summary.hostsFailed, 0, JSON.stringify(summary));
            // On the hosts themselves, not only through our verification.
            for (const n of names()) {
                assert.match(lab.run(n, "cat /etc/subuid /etc/subgid"), /^team-a:\d+:65536\n[\s\S]*^team-a:\d+:65536$/m);
                assert.match(lab.run(n, "docker info --format '{{json .SecurityOptions}}'"), /userns/);
            }
            project.ok(["preview", "--expect-no-changes"]);
        });

        it("holds only what the user's program declared, and its children", function () {
            const state = JSON.parse(project.ok(["stack", "export"]).stdout);
            const resources: { urn: string; type: string; parent?: string; custom?: boolean }[] = state.deployment.resources;
            const byUrn = new Map(resources.map((r) => [r.urn, r]));
            const declared = resources.filter((r) => r.type === "hardened-hosts:index:HardenedFleet");
            assert.deepEqual(declared.map((r) => r.urn.split("::").pop()), ["edge"]);
            for (const r of resources) {
                if (r.type === "pulumi:pulumi:Stack" || r === declared[0]) continue;
                if (r.type.startsWith("pulumi:providers:") && !r.parent?.includes("HardenedFleet")) {
                    // Default providers the engine makes for the package's resources.
                    assert.match(r.type, /^pulumi:providers:(command|pulumi-nodejs)$/, r.urn);
                    continue;
                }
                let p = r.parent;
                while (p && byUrn.get(p)?.type !== "hardened-hosts:index:HardenedFleet") p = byUrn.get(p)?.parent;
                assert.ok(p, `${r.urn} is below the user's fleet`);
            }
            assert.ok(!resources.some((r) => r.urn.includes("toolchain-probe")));
        });

        it("runs the package's policy pack on the user's stack", function () {
            project.npm("install", "@pulumi/policy@1.21.0");
            const pack = path.join(project.dir, "node_modules", "hardened-hosts", "dist", "policy", "analyzer.sh");
            const r = project.ok(["preview", "--policy-pack", pack]);
            assert.match(r.stdout + r.stderr, /hardened-hosts@v0\.1\.0|Policies:|policy/i);
            assert.doesNotMatch(r.stdout + r.stderr, /mandatory/);
        });

        it("upgrades to a release whose providers' code changed with no change to any resource", function () {
            // The next release, as npm would install it: same resources, other provider code.
            const next = path.join(project.dir, "next");
            fs.mkdirSync(next);
            spawnSync("tar", ["-xzf", tarball.file, "-C", next]);
            const pkgFile = path.join(next, "package", "package.json");
            const pkg = JSON.parse(fs.readFileSync(pkgFile, "utf8"));
            fs.writeFileSync(pkgFile, JSON.stringify({ ...pkg, version: "0.1.1-test" }, null, 2));
            // The providers' code is the package's modules (issue #29); their texts in the state
            // do not change between releases, but even a changed one changes no resource.
            for (const p of ["host-check", "subids-ledger", "host-work"]) {
                fs.appendFileSync(path.join(next, "package", "dist", "providers", `${p}.js`), "\n// 0.1.1-test\n");
            }
            for (const m of ["verify/host-check.js", "subids/ledger.js", "host/host-work.js", "platform/host-support.js"]) {
                fs.appendFileSync(path.join(next, "package", "dist", "components", m), "\n// 0.1.1-test\n");
            }
            const nextTarball = path.join(next, "hardened-hosts-0.1.1-test.tgz");
            spawnSync("tar", ["-czf", nextTarball, "-C", next, "package"]);
            project.npm("install", nextTarball);
            assert.equal(JSON.parse(fs.readFileSync(path.join(project.dir, "node_modules", "hardened-hosts", "package.json"), "utf8")).version, "0.1.1-test");
            const r = project.ok(["preview", "--diff", "--expect-no-changes"]);
            assert.doesNotMatch(r.stdout, /replace|\+-/);
            project.ok(["up", "--yes", "--expect-no-changes"]);
        });

        it("destroys back to the hosts' files byte for byte", function () {
            project.ok(["destroy", "--yes"]);
            for (const n of names()) assert.deepEqual(lab.snapshot(n, FILES), original[n], n);
        });
    });
});
