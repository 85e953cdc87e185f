import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runCleanupSteps } from "../support/cleanup";
import { FreshClone } from "../support/fresh-clone";
import { TestLab, labAvailable } from "../support/lab";
import { exampleHostNames, swapExampleHosts } from "../support/onboard-example";
import { repoRoot } from "../support/pulumi-cli";
import { markedShellBlock } from "../support/readme-blocks";
import { ShellSession } from "../support/shell-session";

// Issue #17: the README's onboarding commands work exactly as printed, from the root of a fresh
// clone. This runs the block marked `<!-- tested: onboarding -->` line by line, then the one
// marked `onboarding-undo` (`pulumi destroy`, `pulumi stack rm onboard`), as a reader would in
// one terminal. What differs from a reader's machine, and nothing else:
//   - the clone is a temp copy of the tracked files (test/support/fresh-clone.ts), so the
//     `onboard` stack, its stacks/Pulumi.onboard.yaml and the .pulumi-state/ backend are the
//     copy's own: the commands run verbatim, stack name included, and never meet your stacks;
//   - its stacks/Pulumi.onboard.example.yaml has the example's hosts swapped for lab hosts
//     (address, port, user, host key; test/support/onboard-example.ts), which is the "edit hosts"
//     the block's first line asks for; tenants and runtimes are the example's own;
//   - HOME is a temp directory whose ~/.ssh/id_ed25519 is the lab's client key, so
//     `< ~/.ssh/id_ed25519` reads that; XDG_CACHE_HOME stays the machine's (the built engine);
//   - PULUMI_SKIP_CONFIRMATIONS=true answers the "Do you want to perform this update?" prompts
//     of `pulumi up` and `pulumi destroy` (and `stack rm`'s) as the reader does: there is no
//     terminal here to answer them;
//   - the PULUMI_* and HH_* variables of whoever runs the test are dropped: a fresh terminal.
// The lab has as many hosts as the example (its own name, ports and subnets).
const LAB = { name: "onb", portBase: 22420, net: 24 };
const FILES = ["/etc/subuid", "/etc/subgid", "/etc/docker/daemon.json"];
const STACK = "onboard";

const onboarding = markedShellBlock("onboarding");
const undo = markedShellBlock("onboarding-undo");

// Checked everywhere, lab or not: the markers find the sequence, and the example's swap touches
// only the connection lines.
describe("README onboarding blocks (found by their markers; the example swaps cleanly)", function () {
    it("the marked blocks are the onboarding sequence the issue names, and its undo", function () {
        const starts = ["cp stacks/Pulumi.onboard.example.yaml", "pulumi stack init onboard", "pulumi config set --secret sshPrivateKey <",
            "pulumi preview", "pulumi up --continue-on-error", "pulumi stack output --json"];
        for (const s of starts) assert.ok(onboarding.some((l) => l.startsWith(s)), `a line starts with ${JSON.stringify(s)}:\n${onboarding.join("\n")}`);
        assert.ok(undo.some((l) => /^pulumi destroy(\s|$)/.test(l)), undo.join("\n"));
    });

    it("swapping the example's hosts for lab hosts changes only address, port, user and hostKey lines", function () {
        const example = fs.readFileSync(path.join(repoRoot, "stacks", "Pulumi.onboard.example.yaml"), "utf8");
        const names = exampleHostNames(example);
        const lab = names.map((_, i) => ({
            name: `onb-${i + 1}`, address: "127.0.0.1", port: 22421 + i, user: i === 0 ? "deploy" : "root", privateKeyFile: "/k",
            hostKey: `ssh-ed25519 AAAALAB${i}`, profile: "busy" as const, suite: "bookworm",
        }));
        const swapped = swapExampleHosts(example, lab);
        const connection = /^\s+(address|port|user|hostKey):/;
        assert.deepEqual(swapped.split("\n").filter((l) => !connection.test(l)), example.split("\n").filter((l) => !connection.test(l)));
        for (const [i, h] of lab.entries()) {
            assert.ok(swapped.includes(`address: 127.0.0.1\n      port: ${h.port}\n`), swapped);
            assert.equal(exampleHostNames(swapped)[i], names[i]);
        }
        assert.match(swapped, /user: deploy\n      hostKey: ssh-ed25519 AAAALAB0\n/);
        assert.doesNotMatch(swapped, /203\.0\.113\.|AAAAIExample/, "no example address or key is left");
    });

    it("runs lines as one terminal would: exports, sourced settings and cd carry over; each line has its own status", function () {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-session-test-"));
        const session = new ShellSession(dir, { PATH: process.env.PATH });
        try {
            fs.mkdirSync(path.join(dir, "sub"));
            fs.writeFileSync(path.join(dir, "sub", "env.sh"), "export FROM_SOURCE=yes\n");
            session.ok("export A='x y'   # a trailing comment stays a comment");
            session.ok("cd sub");
            session.ok("source env.sh");
            assert.equal(session.ok('echo "$A|$FROM_SOURCE|$PWD"').stdout, `x y|yes|${path.join(dir, "sub")}\n`);
            assert.equal(session.run("false").status, 1);
            assert.equal(session.ok("echo $A").stdout, "x y\n", "a failed line keeps the state");
        } finally {
            session.dispose();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("README onboarding, as printed, on a fresh clone (lab hosts stand in for the example's)", function () {
    this.timeout(900_000);
    const skip = labAvailable();
    let clone: FreshClone | undefined;
    let lab: TestLab | undefined;
    let session: ShellSession | undefined;
    let home: string | undefined;
    let hostNames: string[] = [];
    const startBytes: Record<string, Record<string, string | null>> = {};
    let upRan = false;
    let destroyed = false;
    let broken: string | undefined;

    before(function () {
        if (skip) {
            if (process.env.CI) throw new Error(`the lab cannot run here: ${skip}`);
            this.skip();
        }
        clone = new FreshClone();
        const exampleFile = path.join(clone.dir, "stacks", "Pulumi.onboard.example.yaml");
        const example = fs.readFileSync(exampleFile, "utf8");
        hostNames = exampleHostNames(example);
        lab = new TestLab({ ...LAB, hosts: hostNames.length });
        lab.up();
        // Docker with no workloads: what a switch does to containers is lab-shared's and lab-stack's subject.
        lab.removeContainers();
        for (const h of lab.inventory.hosts) startBytes[h.name] = lab.snapshot(h.name, FILES);
        fs.writeFileSync(exampleFile, swapExampleHosts(example, lab.inventory.hosts));

        home = fs.mkdtempSync(path.join(os.tmpdir(), "hh-home-"));
        fs.mkdirSync(path.join(home, ".ssh"), { mode: 0o700 });
        fs.copyFileSync(lab.inventory.hosts[0]!.privateKeyFile, path.join(home, ".ssh", "id_ed25519"));
        fs.chmodSync(path.join(home, ".ssh", "id_ed25519"), 0o600);

        const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env)
            .filter(([k]) => !k.startsWith("PULUMI_") && !k.startsWith("HH_")));
        Object.assign(env, {
            HOME: home,
            XDG_CACHE_HOME: process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"),
            PULUMI_SKIP_CONFIRMATIONS: "true",
        });
        session = new ShellSession(clone.dir, env);
        // A fresh clone's setup (README, Layout): cached engine, the Command plugin into the clone's .pulumi-home.
        session.ok("bash scripts/bootstrap.sh");
    });

    after(function () {
        runCleanupSteps([
            // A failed run's hosts are put back first, as the other lab suites do, so `lab down` meets
            // hosts as they started (the clone's backend, which knows what to undo, goes with the clone).
            ["destroy", () => {
                if (upRan && !destroyed) session!.ok(`pulumi destroy --yes --skip-preview --stack ${STACK}`);
            }],
            ["lab down", () => lab?.down()],
            ["clone", () => clone?.dispose()],
            ["home", () => home && fs.rmSync(home, { recursive: true, force: true })],
            ["session", () => session?.dispose()],
        ]);
    });

    /** Runs one README line; a failed line stops the ones after it (they are reported as skipped). */
    function step(line: string): ReturnType<ShellSession["run"]> {
        if (broken) throw new Error(`not run: \`${broken}\` failed before it`);
        const r = session!.run(line);
        if (r.status !== 0) {
            broken = line;
            assert.fail(`\`${line}\` exited ${r.status} (${r.seconds}s)\n${r.stdout}\n${r.stderr}`);
        }
        return r;
    }

    for (const line of onboarding) {
        it(line, function () {
            if (/^pulumi up\b/.test(line)) upRan = true;
            const r = step(line);
            const out = `${r.stdout}${r.stderr}`;
            if (/^pulumi preview\b/.test(line)) {
                // Every host's work is planned, with the subuid lines and the daemon.json keys shown.
                for (const h of hostNames) {
                    const created = new RegExp(`\\+ hardened-hosts:index:HardenedHost: \\(create\\)\\n\\s*\\[urn=[^\\]]*::${h}\\]`);
                    assert.match(out, created, `the preview creates ${h}:\n${out}`);
                }
                assert.match(out, /tenant-a:\d+:65536/, `the subuid line of tenant-a:\n${out}`);
                assert.match(out, /tenant-b:\d+:131072/, `the subuid line of tenant-b:\n${out}`);
                assert.match(out, /no-new-privileges/, `node-1's daemon.json keys:\n${out}`);
            }
            if (/^pulumi stack output --json\b/.test(line)) {
                const outputs = JSON.parse(r.stdout);
                for (const h of hostNames) {
                    const host = outputs.hosts?.[h];
                    assert.equal(host?.passed, true, `${h}: ${JSON.stringify(host, null, 1)}`);
                    const failed = Object.entries(host.checks as Record<string, string>).filter(([, v]) => !v.startsWith("pass"));
                    assert.deepEqual(failed, [], `${h}: every check passes`);
                }
            }
        });
    }

    for (const line of undo) {
        it(line, function () {
            step(line);
            if (/^pulumi destroy\b/.test(line)) {
                destroyed = true;
                for (const h of lab!.inventory.hosts) assert.deepEqual(lab!.snapshot(h.name, FILES), startBytes[h.name], `${h.name} is back to its starting bytes`);
            }
            if (/^pulumi stack rm\b/.test(line)) {
                assert.ok(!fs.existsSync(path.join(clone!.dir, "stacks", `Pulumi.${STACK}.yaml`)), "the stack's settings file is gone");
                const ls = session!.ok("pulumi stack ls --json");
                assert.deepEqual(JSON.parse(ls.stdout), [], "no stack is left in the clone's backend");
            }
        });
    }
});
