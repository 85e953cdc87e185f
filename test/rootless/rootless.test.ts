import * as assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runCleanupSteps } from "../support/cleanup";
import {
    Account,
    account,
    asUser,
    killUserProcesses,
    makeBusyboxTar,
    mapRows,
    mustAsUser,
    pidsWithArgv,
    processAlive,
    processUid,
    removeLines,
    restoreDeviceAcl,
    rootlessScript,
    runRootless,
    saveDeviceAcl,
    TestSubids,
    waitFor,
    appendLines,
} from "../support/rootless";

// components/rootless/rootless.sh on this machine, for real: real users, the real /etc/subuid,
// a real rootless dockerd (under rootlesskit) and real rootless podman, containers made from a
// local busybox image. Needs root and the packages scripts/bootstrap.sh installs (podman uidmap
// slirp4netns rootlesskit docker.io busybox-static fuse-overlayfs acl).
//
// What the tests create, and take away again in after() even when a test failed: the users
// hh-rl-<hex>-{d,p,f}, their subordinate ranges, their processes, their homes, /run/user/<uid>,
// the script's state for them, and /dev/net/tun's permissions (put back as they were).

const id = crypto.randomBytes(3).toString("hex");
const dockerUser = `hh-rl-${id}-d`; // created by rootless.sh (--create-user yes), deleted by it
const podmanUser = `hh-rl-${id}-p`; // created by the test, like an existing account
const foreignUser = `hh-rl-${id}-f`; // has only a range outside the managed block
const COUNT = 65536;
// Far above useradd's ranges and away from the other tests' (which sit at 2^31 + ...).
const base = 3 * 2 ** 30 + (parseInt(id, 16) % 2000) * COUNT * 4;
const dockerStart = base;
const podmanStart = base + COUNT;
const planStart = base + 2 * COUNT; // planned for the foreign user, never written
const foreignStart = base + 3 * COUNT; // written as a plain line: a foreign range
const STATE_ROOT = "/var/lib/hardened-hosts/rootless";
const TUN = "/dev/net/tun";

const podmanOwnContainersConf = `# my own podman settings
[containers]
log_size_max = 1048576

[engine]
runtime = "crun"
image_parallel_copies = 2
`;
const podmanOwnStorageConf = `# my storage settings
[storage]
driver = "vfs"
`;

describe("rootless.sh on this machine (real users, rootless dockerd and podman)", function () {
    const subids = new TestSubids([`${dockerUser}:${dockerStart}:${COUNT}`, `${podmanUser}:${podmanStart}:${COUNT}`]);
    const foreignLine = `${foreignUser}:${foreignStart}:${COUNT}`;
    let foreignLineWritten = false;
    const createdByTest: string[] = [];
    const uids = new Map<string, number>();
    let tmp = "";
    let tar = "";
    let tunBefore = "";
    // Directories rootless.sh may create on the way; removed at the end if they are new and empty.
    const sharedDirs = ["/run/user", "/run/hardened-hosts/rootless", "/run/hardened-hosts", STATE_ROOT, "/var/lib/hardened-hosts"];
    const existedBefore = new Set(sharedDirs.filter((d) => fs.existsSync(d)));

    const user = (name: string): Account => {
        const a = account(name);
        if (!a) throw new Error(`${name} does not exist`);
        uids.set(name, a.uid);
        return a;
    };

    before(function () {
        if (process.getuid?.() !== 0) throw new Error("needs root");
        for (const tool of ["/usr/bin/podman", "/usr/bin/rootlesskit", "/usr/bin/slirp4netns", "/usr/bin/newuidmap", "/bin/busybox", "/usr/bin/setfacl"]) {
            if (!fs.existsSync(tool)) throw new Error(`${tool} missing: run scripts/bootstrap.sh as root`);
        }
        tunBefore = saveDeviceAcl(TUN);
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hh-rl-"));
        fs.chmodSync(tmp, 0o755); // the test users read the image tar from here
        tar = makeBusyboxTar(tmp);
        // Ranges first, in one call, as the component does before rootless.sh runs. The docker
        // user does not exist yet: rootless.sh creates it.
        subids.add();
        for (const name of [podmanUser, foreignUser]) {
            execFileSync("useradd", ["-m", "-s", "/bin/bash", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", name]);
            createdByTest.push(name);
            user(name);
        }
        // The podman user's own settings, which apply must keep. They live in a dotfiles
        // directory (config management); ~/.config/containers holds symlinks to them, one
        // relative and one absolute, which apply and remove must keep as links.
        const p = user(podmanUser);
        const dir = path.join(p.home, ".config", "containers");
        const dotfiles = path.join(p.home, "dotfiles");
        fs.mkdirSync(dir, { recursive: true });
        fs.mkdirSync(dotfiles, { recursive: true });
        fs.writeFileSync(path.join(dotfiles, "containers.conf"), podmanOwnContainersConf);
        fs.writeFileSync(path.join(dotfiles, "storage.conf"), podmanOwnStorageConf);
        fs.symlinkSync("../../dotfiles/containers.conf", path.join(dir, "containers.conf"));
        fs.symlinkSync(path.join(dotfiles, "storage.conf"), path.join(dir, "storage.conf"));
        execFileSync("chown", ["-R", "-h", `${p.uid}:${p.gid}`, path.join(p.home, ".config"), dotfiles]);
    });

    after(function () {
        // Each step on its own: one failing must not keep the others from running.
        const steps: [string, () => void][] = [];
        for (const [name, uid] of uids) steps.push([`processes of ${name}`, () => killUserProcesses(uid)]);
        steps.push(["subordinate ranges", () => subids.drop()]);
        steps.push(["foreign line", () => foreignLineWritten && removeLines([foreignLine])]);
        for (const name of [dockerUser, podmanUser, foreignUser]) {
            steps.push([`user ${name}`, () => {
                if (account(name)) execFileSync("userdel", ["-r", name], { stdio: "ignore" });
            }]);
            steps.push([`state of ${name}`, () => {
                fs.rmSync(path.join(STATE_ROOT, name), { recursive: true, force: true });
                fs.rmSync(`/run/hardened-hosts/rootless/${name}.dockerd.pid`, { force: true });
            }]);
        }
        for (const [, uid] of uids) {
            steps.push([`runtime dir of ${uid}`, () => {
                const rt = `/run/user/${uid}`;
                if (fs.existsSync(rt) && fs.statSync(rt).uid === uid) fs.rmSync(rt, { recursive: true, force: true });
                for (const f of fs.readdirSync("/dev/shm")) {
                    const p = path.join("/dev/shm", f);
                    if (fs.lstatSync(p).uid === uid) fs.rmSync(p, { force: true });
                }
            }]);
        }
        steps.push(["/dev/net/tun", () => {
            if (saveDeviceAcl(TUN) !== tunBefore) restoreDeviceAcl(tunBefore);
            // The script's record of the device's original mode, if our users were the last.
            const others = fs.existsSync(STATE_ROOT) ? fs.readdirSync(STATE_ROOT).filter((f) => f !== "tun-original") : [];
            if (others.length === 0) fs.rmSync(path.join(STATE_ROOT, "tun-original"), { force: true });
        }]);
        steps.push(["new empty directories", () => {
            const runUserMark = path.join(STATE_ROOT, "run-user-created");
            if (!existedBefore.has("/run/user") && fs.existsSync(runUserMark) && fs.readdirSync(STATE_ROOT).length === 1) fs.rmSync(runUserMark);
            for (const d of sharedDirs) {
                if (!existedBefore.has(d) && fs.existsSync(d) && fs.readdirSync(d).length === 0) fs.rmdirSync(d);
            }
        }]);
        steps.push(["temp dir", () => tmp && fs.rmSync(tmp, { recursive: true, force: true })]);
        runCleanupSteps(steps);
    });

    describe("arguments and preconditions", function () {
        for (const bad of [
            ["apply", "--mode", "podman", "--user", "root"],
            ["apply", "--mode", "podman", "--user", "a;rm -rf /"],
            ["apply", "--mode", "podman", "--user", "Upper"],
            ["apply", "--mode", "lxc", "--user", dockerUser],
            ["apply", "--mode", "podman", "--user", dockerUser, "--create-user", "maybe"],
            ["apply", "--mode", "podman", "--user", dockerUser, "--expect-range", "1:0"],
            ["apply", "--mode", "podman", "--user", dockerUser, "--expect-range", "4294967295:2"],
            ["apply", "--mode", "podman", "--user", dockerUser, "--user", dockerUser],
            ["apply", "--user", dockerUser],
            ["remove", "--mode", "podman", "--user", dockerUser, "--create-user", "yes"],
            ["facts"],
            ["destroy", "--user", dockerUser],
        ]) {
            it(`refuses ${JSON.stringify(bad.join(" "))} with exit 2, touching nothing`, function () {
                const r = runRootless(bad);
                assert.equal(r.status, 2, r.stderr);
                assert.equal(r.json.ok, false);
                assert.equal(account(dockerUser), undefined);
                assert.equal(fs.existsSync(path.join(STATE_ROOT, dockerUser)), false);
            });
        }

        it("refuses a user without ranges, then one whose only range is foreign, creating nothing", function () {
            const before = saveDeviceAcl(TUN);
            let r = runRootless(["apply", "--mode", "podman", "--user", foreignUser, "--expect-range", `${planStart}:${COUNT}`]);
            assert.equal(r.status, 3, r.stderr);
            assert.match(r.json.error, new RegExp(`${foreignUser} has no subuid range`));

            appendLines([foreignLine]);
            foreignLineWritten = true;
            r = runRootless(["apply", "--mode", "podman", "--user", foreignUser, "--expect-range", `${planStart}:${COUNT}`]);
            assert.equal(r.status, 3, r.stderr);
            assert.match(r.json.error, new RegExp(`subuid range is ${foreignStart}:${COUNT} \\(outside the hardened-hosts managed block`));
            assert.match(r.json.error, new RegExp(`expected ${planStart}:${COUNT}`));
            assert.equal(fs.existsSync(path.join(STATE_ROOT, foreignUser)), false);
            assert.equal(saveDeviceAcl(TUN), before);
        });

        it("refuses a user that does not exist unless --create-user yes", function () {
            const r = runRootless(["apply", "--mode", "docker-rootless", "--user", dockerUser]);
            assert.equal(r.status, 3, r.stderr);
            assert.match(r.json.error, /does not exist \(pass --create-user yes/);
            assert.equal(account(dockerUser), undefined);
        });

        it("facts: read-only JSON about the host and the user", function () {
            const r = runRootless(["facts", "--user", podmanUser]);
            assert.equal(r.status, 0, r.stderr);
            const f = r.json;
            assert.equal(f.user.exists, true);
            assert.equal(f.user.uid, user(podmanUser).uid);
            assert.equal(f.systemd, fs.existsSync("/run/systemd/system"));
            assert.equal(f.cgroup, fs.existsSync("/sys/fs/cgroup/cgroup.controllers") ? "v2" : f.cgroup);
            assert.ok(["v1", "hybrid", "v2"].includes(f.cgroup));
            assert.equal(f.userns.available, true);
            if (subids.mode === "block") {
                assert.deepEqual(f.subuid, [{ start: podmanStart, count: COUNT, managed: true }]);
                assert.deepEqual(f.subgid, [{ start: podmanStart, count: COUNT, managed: true }]);
            }
            assert.match(f.tools.podman.version, /^\d+\.\d+/);
            assert.match(f.tools.dockerd.version, /^\d+\.\d+/);
            assert.match(f.devices["/dev/net/tun"].mode, /^0[0-7]{3}$/);
            assert.equal(f.linger, false);
            // Nothing was created for the user.
            assert.equal(fs.existsSync(path.join(STATE_ROOT, podmanUser)), false);
            assert.equal(fs.existsSync(path.join(user(podmanUser).home, ".local", "share", "containers")), false);
        });
    });

    /** The container checks both runtimes must pass. `cli` runs the runtime's CLI as the user. */
    async function containerChecks(cli: (args: string[]) => string, a: Account, start: number, mode: string, rmNow: string[]): Promise<void> {
        cli(["import", tar, "localbb:latest"]);

        const uidMap = cli(["run", "--rm", "localbb:latest", "cat", "/proc/self/uid_map"]);
        assert.deepEqual(mapRows(uidMap), [[0, a.uid, 1], [1, start, COUNT]]);
        const gidMap = cli(["run", "--rm", "localbb:latest", "cat", "/proc/self/gid_map"]);
        assert.deepEqual(mapRows(gidMap), [[0, a.gid, 1], [1, start, COUNT]]);

        // Container root is the user on the host; container user 1000 is subordinate ID start+999.
        const n = 100000 + crypto.randomInt(800000);
        cli(["run", "-d", "--name", `root-${id}`, "localbb:latest", "sleep", String(n)]);
        cli(["run", "-d", "--name", `u1000-${id}`, "--user", "1000:1000", "localbb:latest", "sleep", String(n + 1)]);
        const rootPid = await waitFor("the container's sleep on the host", () => pidsWithArgv(["sleep", String(n)])[0]);
        const userPid = await waitFor("the second container's sleep", () => pidsWithArgv(["sleep", String(n + 1)])[0]);
        assert.equal(processUid(rootPid), a.uid, `${mode}: container root runs as ${a.name} on the host`);
        assert.equal(processUid(userPid), start + 999, `${mode}: container uid 1000 is subordinate uid start+999`);
        const ps = execFileSync("ps", ["-o", "user=", "-p", String(rootPid)], { encoding: "utf8" }).trim();
        assert.ok(a.name.startsWith(ps.replace(/\+$/, "")), `ps shows ${ps}`);
        cli(["rm", "-f", ...rmNow, `root-${id}`, `u1000-${id}`]);

        // A bind mount written by container root: the file belongs to the user.
        const bind = path.join(tmp, `bind-${mode}`);
        fs.mkdirSync(bind, { mode: 0o700 });
        fs.chownSync(bind, a.uid, a.gid);
        cli(["run", "--rm", "-v", `${bind}:/data`, "localbb:latest", "sh", "-c", "echo hi > /data/by-root"]);
        const st = fs.statSync(path.join(bind, "by-root"));
        assert.equal(st.uid, a.uid);
        assert.equal(st.gid, a.gid);
    }

    describe("docker-rootless", function () {
        let first: Record<string, any> = {};
        let a: Account;

        it("apply creates the user, starts the daemon, and docker info as the user says rootless", function () {
            const r = runRootless(["apply", "--mode", "docker-rootless", "--user", dockerUser, "--create-user", "yes", "--install", "yes",
                "--expect-range", `${dockerStart}:${COUNT}`]);
            console.log(`      apply docker-rootless (first): ${r.ms} ms`);
            assert.equal(r.status, 0, r.stderr + r.stdout);
            first = r.json;
            createdByTest.push(dockerUser);
            a = user(dockerUser);
            assert.equal(first.changed, true);
            assert.equal(first.createdUser, true);
            assert.equal(first.uid, a.uid);
            assert.equal(first.rootless, true);
            assert.ok(first.securityOptions.includes("name=rootless"), JSON.stringify(first.securityOptions));
            assert.equal(first.dockerHost, `unix:///run/user/${a.uid}/docker.sock`);
            assert.deepEqual(first.ranges.subuid.map((x: any) => [x.start, x.count]), [[dockerStart, COUNT]]);
            assert.deepEqual(first.ranges.subgid.map((x: any) => [x.start, x.count]), [[dockerStart, COUNT]]);
            // No automatic range from useradd: only the planned one.
            assert.doesNotMatch(fs.readFileSync("/etc/subuid", "utf8"), new RegExp(`^${dockerUser}:(?!${dockerStart}:)`, "m"));
            assert.equal(a.shell, "/bin/bash");
            assert.ok(["acl", "already", "chmod-0666"].includes(first.tun.access));
            if (!fs.existsSync("/run/systemd/system")) {
                assert.equal(first.supervision.supervised, false);
                assert.ok(processAlive(first.supervision.pid));
                assert.equal(first.linger.enabled, false);
            }
        });

        it("runs containers from a local busybox image with the planned ID mapping", async function () {
            const env = { DOCKER_HOST: first.dockerHost };
            await containerChecks((args) => mustAsUser(a, ["docker", ...args], env), a, dockerStart, "docker", []);
        });

        it("a second apply changes nothing", function () {
            const r = runRootless(["apply", "--mode", "docker-rootless", "--user", dockerUser, "--create-user", "yes", "--install", "yes",
                "--expect-range", `${dockerStart}:${COUNT}`]);
            console.log(`      apply docker-rootless (second): ${r.ms} ms`);
            assert.equal(r.status, 0, r.stderr);
            assert.equal(r.json.changed, false, JSON.stringify(r.json.changes));
            assert.deepEqual(r.json.changes, []);
            assert.equal(r.json.supervision.pid, first.supervision.pid);
        });

        it("apply starts the daemon again after it died (it is not supervised without systemd)", async function () {
            if (fs.existsSync("/run/systemd/system")) this.skip();
            process.kill(first.supervision.pid, "SIGKILL");
            await waitFor("rootlesskit to die", () => (processAlive(first.supervision.pid) ? undefined : true));
            // rootlesskit's children die with it (parent-death signal); wait for the socket's users to go.
            await waitFor("the old daemon's processes", () => (pidsWithArgv(["dockerd"]).some((p) => processUid(p) === a.uid) ? undefined : true));
            const r = runRootless(["apply", "--mode", "docker-rootless", "--user", dockerUser, "--expect-range", `${dockerStart}:${COUNT}`]);
            assert.equal(r.status, 0, r.stderr);
            assert.equal(r.json.changed, true);
            assert.notEqual(r.json.supervision.pid, first.supervision.pid);
            assert.ok(processAlive(r.json.supervision.pid));
            first = r.json;
        });

        it("remove --delete-user yes stops the daemon and deletes the user it created", function () {
            const r = runRootless(["remove", "--mode", "docker-rootless", "--user", dockerUser, "--delete-user", "yes"]);
            assert.equal(r.status, 0, r.stderr);
            assert.equal(r.json.changed, true);
            assert.equal(r.json.deletedUser, true);
            if (first.supervision.pid) assert.equal(processAlive(first.supervision.pid), false);
            assert.equal(spawnSync("pgrep", ["-U", String(a.uid)]).status, 1, "no process of the user is left");
            assert.equal(account(dockerUser), undefined);
            assert.equal(fs.existsSync(a.home), false);
            assert.equal(fs.existsSync(`/run/user/${a.uid}`), false);
            assert.equal(fs.existsSync(path.join(STATE_ROOT, dockerUser)), false);
            assert.doesNotMatch(execFileSync("getfacl", ["-pc", TUN], { encoding: "utf8" }), new RegExp(`user:${a.uid}:|user:${dockerUser}:`));
        });

        it("a second remove changes nothing", function () {
            const r = runRootless(["remove", "--mode", "docker-rootless", "--user", dockerUser, "--delete-user", "yes"]);
            assert.equal(r.status, 0, r.stderr);
            assert.equal(r.json.changed, false);
        });
    });

    describe("podman", function () {
        let first: Record<string, any> = {};
        let a: Account;
        const conf = (f: string) => path.join(user(podmanUser).home, ".config", "containers", f);

        it("apply merges runtime and storage into the user's files and podman info says rootless", function () {
            a = user(podmanUser);
            const r = runRootless(["apply", "--mode", "podman", "--user", podmanUser, "--restrict-shell", "yes",
                "--expect-range", `${podmanStart}:${COUNT}`]);
            console.log(`      apply podman (first): ${r.ms} ms`);
            assert.equal(r.status, 0, r.stderr + r.stdout);
            first = r.json;
            assert.equal(first.changed, true);
            assert.equal(first.createdUser, false);
            assert.equal(first.rootless, true);
            assert.equal(first.uid, a.uid);
            const cg = first.cgroup;
            if (cg !== "v2") assert.equal(first.runtime, "runc", "crun refuses hybrid/v1 cgroups");
            assert.ok(["overlay", "fuse-overlayfs", "vfs"].includes(first.storageDriver));
            assert.equal(first.podmanSocket.path, `/run/user/${a.uid}/podman/podman.sock`);

            // Only our keys changed; the user's own settings stay, the first version is kept.
            const cc = fs.readFileSync(conf("containers.conf"), "utf8");
            assert.match(cc, /^log_size_max = 1048576$/m);
            assert.match(cc, /^image_parallel_copies = 2$/m);
            assert.match(cc, new RegExp(`^runtime = "${first.runtime}" # hardened-hosts \\(rootless\\.sh\\)$`, "m"));
            assert.doesNotMatch(cc, /runtime = "crun"\n/);
            assert.equal(fs.readFileSync(conf("containers.conf.hardened-hosts.bak"), "utf8"), podmanOwnContainersConf);
            const sc = fs.readFileSync(conf("storage.conf"), "utf8");
            assert.match(sc, /^driver = "(overlay|vfs)" # hardened-hosts/m);
            assert.match(sc, /^# my storage settings$/m);
            for (const f of ["containers.conf", "storage.conf"]) assert.equal(fs.statSync(conf(f)).uid, a.uid);
            // Symlinked settings stay links: the dotfiles targets got the bytes.
            assert.equal(fs.readlinkSync(conf("containers.conf")), "../../dotfiles/containers.conf");
            assert.equal(fs.readlinkSync(conf("storage.conf")), path.join(a.home, "dotfiles", "storage.conf"));
            assert.match(fs.readFileSync(path.join(a.home, "dotfiles", "containers.conf"), "utf8"), /# hardened-hosts \(rootless\.sh\)$/m);

            // --restrict-shell yes: no login shell any more.
            assert.match(user(podmanUser).shell, /nologin$/);
        });

        it("runs containers from a local busybox image with the planned ID mapping", async function () {
            await containerChecks((args) => mustAsUser(a, ["podman", ...args]), a, podmanStart, "podman", ["--time", "0"]);
        });

        it("a second apply changes nothing", function () {
            const r = runRootless(["apply", "--mode", "podman", "--user", podmanUser, "--restrict-shell", "yes",
                "--expect-range", `${podmanStart}:${COUNT}`]);
            console.log(`      apply podman (second): ${r.ms} ms`);
            assert.equal(r.status, 0, r.stderr);
            assert.equal(r.json.changed, false, JSON.stringify(r.json.changes));
        });

        it("remove restores the files (a later edit of the user survives), the shell and /dev/net/tun", function () {
            // The user edits containers.conf after apply: remove must keep that edit.
            const edit = "# added by the user after apply\n";
            fs.appendFileSync(conf("containers.conf"), edit);
            const r = runRootless(["remove", "--mode", "podman", "--user", podmanUser, "--delete-user", "yes"]);
            assert.equal(r.status, 0, r.stderr);
            assert.equal(r.json.changed, true);
            assert.equal(r.json.deletedUser, false, "rootless.sh did not create this user");
            assert.ok(r.json.warnings.some((w: string) => /not deleting .* did not create it/.test(w)), JSON.stringify(r.json.warnings));
            assert.equal(fs.readFileSync(conf("containers.conf"), "utf8"), podmanOwnContainersConf + edit);
            assert.equal(fs.readFileSync(conf("storage.conf"), "utf8"), podmanOwnStorageConf, "unchanged since apply: backup restored");
            // Both ways back keep the links and give their targets the bytes.
            assert.equal(fs.readlinkSync(conf("containers.conf")), "../../dotfiles/containers.conf");
            assert.equal(fs.readlinkSync(conf("storage.conf")), path.join(a.home, "dotfiles", "storage.conf"));
            assert.equal(fs.readFileSync(path.join(a.home, "dotfiles", "storage.conf"), "utf8"), podmanOwnStorageConf);
            assert.equal(fs.existsSync(conf("containers.conf.hardened-hosts.bak")), false);
            assert.equal(fs.existsSync(conf("storage.conf.hardened-hosts.bak")), false);
            assert.equal(user(podmanUser).shell, "/bin/bash");
            assert.equal(fs.existsSync(path.join(STATE_ROOT, podmanUser)), false);
            // Both managed users are gone: the device is as before (unless another user still holds it).
            const others = fs.existsSync(STATE_ROOT) ? fs.readdirSync(STATE_ROOT).filter((f) => f !== "tun-original") : [];
            if (others.length === 0) assert.equal(saveDeviceAcl(TUN), tunBefore);
        });

        it("a second remove changes nothing", function () {
            const r = runRootless(["remove", "--mode", "podman", "--user", podmanUser]);
            assert.equal(r.status, 0, r.stderr);
            assert.equal(r.json.changed, false);
        });
    });

    it("the script is what remote.Command ships: readable, shellcheck-clean bash", function () {
        assert.ok(fs.readFileSync(rootlessScript, "utf8").startsWith("#!/usr/bin/env bash\n"));
        const r = spawnSync("shellcheck", ["-x", "-S", "style", rootlessScript], { encoding: "utf8" });
        if (r.error) this.skip();
        assert.equal(r.status, 0, r.stdout);
    });

    it("asUser sees the same environment the script gives the user", function () {
        const p = account(podmanUser);
        if (!p) this.skip();
        const r = asUser(p, ["sh", "-c", "id -u; echo $HOME"]);
        assert.equal(r.stdout, `${p.uid}\n${p.home}\n`);
    });
});
