import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { readHostScript } from "../../components/host/script";
import { PrivateDockerd, TestSubids, accountExists, busyboxImage, deleteAccount, hasCommand, makeBusyboxTar, randomSubidStart, run } from "../support/dockerd";

// docker-remap.sh on a host it must leave as found when it fails (issue 28): a daemon.json with a
// UTF-8 byte order mark, no space in its folder, and a write failing after the remap user was
// created. The private daemon of test/support/dockerd.ts is never started: every case fails
// before a restart. The machine's /etc/docker is never touched (HH_DOCKER_CONFIG); the remap
// user's range goes into the real /etc/subuid as in docker-remap.test.ts.
const scriptText = readHostScript("docker/docker-remap.sh");
const subidsText = readHostScript("subids/subids-host.sh");

describe("docker-remap.sh leaves the host as found when it fails (private dockerd folder, real /etc/subuid)", function () {
    this.timeout(120_000);
    const suffix = crypto.randomBytes(3).toString("hex");
    const user = `hhf-${suffix}`;
    const subids = new TestSubids(user, randomSubidStart());
    const subidsLine = subids.line;
    let d: PrivateDockerd | undefined;
    const mounts: string[] = [];
    const dd = () => {
        if (!d) throw new Error("no private dockerd folder");
        return d;
    };
    const runScript = (config: string, args: string[]) => {
        const env = { ...dd().env, HH_DOCKER_CONFIG: config, HH_DOCKERD_FLAGS: ["--config-file", config, ...dd().flags].join(" ") };
        const r = run("bash", ["-s", "--", ...args], env, 60_000, scriptText);
        return { status: r.status, json: JSON.parse(r.stdout.trim().split("\n").pop() ?? ""), stderr: r.stderr };
    };
    /** Every file under dir: relative path → bytes (links as "-> target"). */
    const tree = (dir: string): Record<string, string> => {
        const out: Record<string, string> = {};
        const walk = (x: string) => {
            for (const e of fs.readdirSync(x, { withFileTypes: true })) {
                const p = path.join(x, e.name);
                if (e.isSymbolicLink()) out[path.relative(dir, p)] = `-> ${fs.readlinkSync(p)}`;
                else if (e.isDirectory()) walk(p);
                else out[path.relative(dir, p)] = fs.readFileSync(p, "latin1");
            }
        };
        walk(dir);
        return out;
    };
    const etcFiles = () => Object.fromEntries(["passwd", "group", "shadow", "gshadow", "subuid", "subgid"].map((f) => [f, fs.readFileSync(`/etc/${f}`, "latin1")]));
    const mount = (args: string[]) => {
        const r = spawnSync("mount", args, { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`mount ${args.join(" ")}: ${r.stderr}`);
        mounts.push(args[args.length - 1]!);
    };

    before(function () {
        if (process.getuid?.() !== 0) throw new Error("these tests run useradd and mount: run them as root");
        for (const c of ["dockerd", "docker", "useradd"]) if (!hasCommand(c)) throw new Error(`'${c}' is missing: run scripts/bootstrap.sh`);
        d = new PrivateDockerd();
        subids.add();
    });
    beforeEach(function () {
        subids.ensure();
    });
    afterEach(function () {
        while (mounts.length > 0) spawnSync("umount", ["-l", mounts.pop()!]);
    });
    after(function () {
        const errors: unknown[] = [];
        for (const step of [() => { while (mounts.length > 0) spawnSync("umount", ["-l", mounts.pop()!]); }, () => d?.dispose(), () => subids.drop(), () => deleteAccount(user)]) {
            try {
                step();
            } catch (e) {
                errors.push(e);
            }
        }
        if (errors.length > 0) throw errors[0];
    });

    it("a daemon.json with a UTF-8 byte order mark: exit 4 naming it, nothing written, no account", function () {
        const dir = path.join(dd().dir, "bom");
        fs.mkdirSync(dir);
        const config = path.join(dir, "daemon.json");
        fs.writeFileSync(config, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{\n  "debug": false\n}\n')]));
        const before = tree(dir);
        const r = runScript(config, ["apply", "--user", user]);
        assert.equal(r.status, 4, r.stderr);
        assert.match(r.json.error, new RegExp(`${config} starts with a UTF-8 byte order mark .*nothing was changed|is malformed, nothing was changed: ${config} starts with a UTF-8 byte order mark`));
        assert.deepEqual(tree(dir), before);
        assert.equal(accountExists(user), false);
    });

    it("no space left in daemon.json's folder: exit 3 naming the folder, before any account is made; no temp file", function () {
        const dir = path.join(dd().dir, "full");
        fs.mkdirSync(dir);
        mount(["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]);
        const config = path.join(dir, "daemon.json");
        fs.writeFileSync(config, '{\n  "debug": false\n}\n');
        fs.writeFileSync(path.join(dir, "fill"), Buffer.alloc(40 * 1024));
        const before = tree(dir);
        const etc = etcFiles();
        const r = runScript(config, ["apply", "--user", user]);
        assert.equal(r.status, 3, r.stderr);
        assert.match(r.json.error, new RegExp(`^no space left on ${dir}: \\d+ KiB free, \\d+ KiB needed to write ${config} and its backup: nothing changed$`));
        assert.deepEqual(tree(dir), before);
        assert.deepEqual(etcFiles(), etc, "no account made");
    });

    it("--stack: settings another stack owns are refused by apply, naming it, and left alone by remove", function () {
        const dir = path.join(dd().dir, "owned");
        fs.mkdirSync(dir);
        const config = path.join(dir, "daemon.json");
        fs.writeFileSync(config, '{\n  "userns-remap": "dockremap",\n  "debug": false\n}\n');
        fs.writeFileSync(`${config}.hardened-hosts.bak`, '{\n  "debug": false\n}\n');
        fs.writeFileSync(`${config}.hardened-hosts.stack`, "proj/a\n");
        const before = tree(dir);
        const etc = etcFiles();
        const r = runScript(config, ["apply", "--user", user, "--stack", "proj/b"]);
        assert.equal(r.status, 3, r.stderr);
        assert.match(r.json.error, new RegExp(`^${config}'s userns-remap and keys are managed by stack proj/a .*not proj/b: one stack owns a host's Docker daemon settings.*nothing changed$`));
        const rm = runScript(config, ["remove", "--user", "dockremap", "--stack", "proj/b", "--delete-user", "yes"]);
        assert.equal(rm.status, 0, rm.stderr);
        assert.equal(rm.json.ownedBy, "proj/a");
        assert.equal(rm.json.changed, false);
        assert.deepEqual(tree(dir), before);
        assert.deepEqual(etcFiles(), etc);
    });

    it("an operator's own userns-remap (set before us) is refused unless taken over explicitly; ours changed by hand is not theirs", function () {
        const dir = path.join(dd().dir, "operator");
        fs.mkdirSync(dir);
        const config = path.join(dir, "daemon.json");
        fs.writeFileSync(config, '{\n  "userns-remap": "remapper",\n  "debug": false\n}\n');
        const before = tree(dir);
        const etc = etcFiles();
        const r = runScript(config, ["apply", "--user", user]);
        assert.equal(r.status, 3, r.stderr);
        assert.match(r.json.error, new RegExp(`^${config} already remaps Docker to "remapper" \\(set before hardened-hosts, not by it\\): switching to ${user} .*ask for it explicitly \\(takeOverRemap, --take-over-remap yes\\): nothing changed$`));
        assert.deepEqual(tree(dir), before);
        assert.deepEqual(etcFiles(), etc);
        const plan = runScript(config, ["plan", "--user", user, "--take-over-remap", "yes"]);
        assert.equal(plan.status, 0, plan.stderr);
        assert.equal(plan.json.tookOver, "remapper");
        assert.equal(JSON.parse(plan.json.newConfig)["userns-remap"], user);
        // Our backup says the original had no remap: a remap to someone else now is drift of ours.
        fs.writeFileSync(`${config}.hardened-hosts.bak`, '{\n  "debug": false\n}\n');
        const drift = runScript(config, ["plan", "--user", user]);
        assert.equal(drift.status, 0, drift.stderr);
        assert.equal(drift.json.tookOver, null);
        assert.deepEqual(etcFiles(), etc);
    });

    it("--containers refuse: a switch that would stop running containers and hide the others is refused, naming them; the container runs on", function () {
        const d0 = dd();
        fs.writeFileSync(d0.config, '{\n  "debug": false\n}\n');
        d0.start();
        d0.importBusybox(makeBusyboxTar(d0.dir));
        d0.dockerOk("run", "-d", "--name", "live", busyboxImage, "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done");
        d0.dockerOk("create", "--name", "parked", busyboxImage, "true");
        const etc = etcFiles();
        const pid = d0.pid();
        const r = runScript(d0.config, ["apply", "--user", user, "--containers", "refuse"]);
        assert.equal(r.status, 3, r.stderr);
        const refusal = /^the switch would stop 1 running container\(s\) \(live\) and hide 2 container\(s\) \((live parked|parked live)\) under the current root; ask for it explicitly \(existingContainers: stop, --containers stop\): nothing changed$/;
        assert.match(r.json.error, refusal);
        // refuse is the default: no --containers says the same.
        assert.match(runScript(d0.config, ["apply", "--user", user]).json.error, refusal);
        assert.equal(fs.readFileSync(d0.config, "utf8"), '{\n  "debug": false\n}\n');
        assert.deepEqual(etcFiles(), etc, "no account made");
        assert.equal(d0.pid(), pid, "dockerd not restarted");
        assert.equal(d0.dockerOk("inspect", "-f", "{{.State.Running}}", "live"), "true");
        const plan = runScript(d0.config, ["plan", "--user", user, "--containers", "refuse"]);
        assert.equal(plan.status, 0, "plan reports, it does not refuse");
        assert.deepEqual(plan.json.runningContainers, ["live"]);
        // The subids step, which runs first, refuses the same switch before it writes anything
        // (its --docker-config preflight, with the remap user as its one --system owner).
        const subids = (...extra: string[]) => {
            const x = run("bash", ["-s", "--", "check", subidsLine, "--system", user, "--docker-config", d0.config, ...extra], d0.env, 60_000, subidsText);
            return { status: x.status, json: JSON.parse(x.stdout.trim().split("\n").pop() ?? ""), stderr: x.stderr };
        };
        const refused = subids();
        assert.equal(refused.status, 3, refused.stderr);
        assert.match(refused.json.error, refusal);
        assert.equal(subids("--containers", "stop").status, 0, "the opt-in lets the subids step go ahead");
        assert.deepEqual(etcFiles(), etc);
    });

    it("a write failing after the remap user was created (daemon.json's target on a read-only mount): the account, backup and record are undone, /etc as found", function () {
        const dir = path.join(dd().dir, "linked");
        const ro = path.join(dd().dir, "ro");
        fs.mkdirSync(dir);
        fs.mkdirSync(ro);
        fs.writeFileSync(path.join(ro, "daemon.json"), '{\n  "debug": false\n}\n');
        const config = path.join(dir, "daemon.json");
        fs.symlinkSync(path.join(ro, "daemon.json"), config);
        mount(["--bind", ro, ro]);
        spawnSync("mount", ["-o", "remount,bind,ro", ro]);
        const before = tree(dir);
        const etc = etcFiles();
        const hadDash = fs.existsSync("/etc/subuid-");
        // (The private daemon may still run the last test's containers: their fate is not this test's.)
        const r = runScript(config, ["apply", "--user", user, "--containers", "stop"]);
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.json.error, new RegExp(`^cannot create a temp file in ${ro}: .*: nothing changed \\(this run's writes and accounts were undone\\)$`));
        assert.match(r.stderr, new RegExp(`created system user ${user}`), "the account had been created");
        assert.equal(accountExists(user), false, "and is gone again");
        assert.equal(accountExists(user, "group"), false);
        assert.deepEqual(tree(dir), before, "no backup, no record, no temp file");
        assert.deepEqual(etcFiles(), etc, "/etc/passwd, group, shadow, gshadow, subuid, subgid: the same bytes");
        assert.equal(fs.existsSync("/etc/subuid-"), hadDash);
    });
});
