import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { readHostScript } from "../../components/host/script";
import {
    PrivateDockerd,
    TestSubids,
    accountExists,
    busyboxImage,
    deleteAccount,
    hasCommand,
    makeBusyboxTar,
    randomSubidStart,
    run,
} from "../support/dockerd";

// components/docker/docker-remap.sh against a real dockerd 20.10 (Debian's docker.io), no mocks:
// a private daemon in a temp folder (its own socket, data root, exec root, cgroup parent, no
// bridge/iptables), restarted through the script's HH_DOCKER_RESTART_HOOK, with the remap user's
// ranges in the REAL /etc/subuid and /etc/subgid. The machine's /etc/docker is never touched:
// every run gets HH_DOCKER_CONFIG and DOCKER_HOST of the private daemon.
// What remote.Command ships: the prelude, then the script, on stdin.
const scriptText = readHostScript("docker/docker-remap.sh");

interface ScriptRun {
    status: number;
    json: any;
    stderr: string;
    ms: number;
}

// A daemon.json full of other keys 20.10 accepts (none of them set by the private daemon's
// flags), written with tabs and odd spacing on purpose: "kept" is checked on parsed values,
// and remove must give these exact bytes back. (nofile stays under this machine's hard limit of
// 20000: root here has no CAP_SYS_RESOURCE, and runc fails any container asking for more with
// "error setting rlimit type 7: operation not permitted", remapped or not.)
const ORIGINAL = `{
\t"log-driver": "json-file",
\t"log-opts": { "max-size": "10m", "max-file": "3" },
\t"storage-driver": "overlay2",
\t"default-address-pools": [ { "base": "10.123.0.0/16", "size": 24 } ],
\t"default-ulimits": { "nofile": { "Name": "nofile", "Hard": 4096, "Soft": 4096 } },
\t"labels": [ "hh-test=docker-remap" ],
\t"max-concurrent-downloads": 3,
\t"shutdown-timeout": 5,
\t"userland-proxy": false,
\t"live-restore": false,
\t"experimental": false,
\t"debug": false
}
`;
const ORIGINAL_MODE = 0o640;
const sleeper = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"];

describe("docker-remap.sh (real dockerd 20.10, private daemon, real /etc/subuid)", function () {
    this.timeout(300_000);
    const suffix = crypto.randomBytes(3).toString("hex");
    const user = `hhr-${suffix}`;
    const start = randomSubidStart();
    const subids = new TestSubids(user, start);
    let d: PrivateDockerd | undefined;
    let tar: string;
    const timings: Record<string, number> = {};

    const dockerd = (): PrivateDockerd => {
        if (!d) throw new Error("no private dockerd");
        return d;
    };
    const runScript = (args: string[], env: NodeJS.ProcessEnv = {}): ScriptRun => {
        const t0 = Date.now();
        // As on a host: the script on stdin (`bash -s -- ARGS`), see components/host/script.ts.
        const r = run("bash", ["-s", "--", ...args], { ...dockerd().env, ...env }, 240_000, scriptText);
        const ms = Date.now() - t0;
        const last = r.stdout.trim().split("\n").pop() ?? "";
        let json: unknown;
        try {
            json = JSON.parse(last);
        } catch {
            throw new Error(`stdout is not one JSON object (${r.status}): ${r.stdout}\nstderr: ${r.stderr}`);
        }
        return { status: r.status, json, stderr: r.stderr, ms };
    };
    const configBytes = () => fs.readFileSync(dockerd().config, "utf8");
    const configMode = () => fs.statSync(dockerd().config).mode & 0o777;
    const backup = () => `${dockerd().config}.hardened-hosts.bak`;
    const assertUntouched = (what: string) => {
        assert.equal(configBytes(), ORIGINAL, `${what}: daemon.json changed`);
        assert.equal(configMode(), ORIGINAL_MODE, `${what}: mode changed`);
        assert.equal(fs.existsSync(backup()), false, `${what}: a backup appeared`);
        assert.equal(accountExists(user), false, `${what}: the remap user was created`);
    };

    before(function () {
        if (process.getuid?.() !== 0) throw new Error("these tests run dockerd and useradd: run them as root");
        for (const c of ["dockerd", "docker", "busybox", "useradd"]) {
            if (!hasCommand(c)) throw new Error(`'${c}' is missing: run scripts/bootstrap.sh (docker.io, busybox-static)`);
        }
        d = new PrivateDockerd();
        fs.writeFileSync(d.config, ORIGINAL, { mode: ORIGINAL_MODE });
        fs.chmodSync(d.config, ORIGINAL_MODE);
        tar = makeBusyboxTar(d.dir);
        d.start();
        d.importBusybox(tar);
        subids.add();
    });

    // The machine's /etc/subuid is shared with other suites that may rewrite the managed block
    // while this one runs: make sure our range is there before each test.
    beforeEach(function () {
        subids.ensure();
    });

    after(function () {
        const errors: unknown[] = [];
        for (const step of [() => d?.dispose(), () => subids.drop(), () => deleteAccount(user), () => deleteAccount(`hhn-${suffix}`)]) {
            try {
                step();
            } catch (e) {
                errors.push(e);
            }
        }
        if (Object.keys(timings).length > 0) {
            console.log("      timings (ms, restarts included):", JSON.stringify(timings));
        }
        if (errors.length > 0) throw errors[0];
    });

    const cases: [string, string[], RegExp][] = [
        ["no subcommand", [], /usage/],
        ["unknown subcommand", ["install"], /usage/],
        ["apply without --user", ["apply"], /needs --user/],
        ["upper-case user", ["apply", "--user", "Remap"], /expected a user name/],
        ["user starting with a digit", ["apply", "--user", "1remap"], /expected a user name/],
        ["user with a shell metacharacter", ["apply", "--user", "a;rm -rf /"], /expected a user name/],
        ["user too long", ["apply", "--user", "a".repeat(33)], /expected a user name/],
        ["user 'default'", ["apply", "--user", "default"], /dockremap/],
        ["user 'root'", ["apply", "--user", "root"], /dedicated user/],
        ["--options an array", ["apply", "--user", user, "--options", "[1, 2]"], /top-level value is array/],
        ["--options a string", ["apply", "--user", user, "--options", '"debug"'], /top-level value is string/],
        ["--options malformed", ["apply", "--user", user, "--options", '{"debug": true,}'], /--options: /],
        ["--options two objects", ["apply", "--user", user, "--options", "{} {}"], /--options: /],
        ["--options NaN", ["apply", "--user", user, "--options", '{"x": NaN}'], /NaN/],
        ["--options with userns-remap", ["apply", "--user", user, "--options", '{"userns-remap": "other"}'], /must not set userns-remap/],
        ["--install maybe", ["apply", "--user", user, "--install", "maybe"], /yes or no/],
        ["unknown flag", ["apply", "--user", user, "--force"], /does not take '--force'/],
        ["flag given twice", ["apply", "--user", user, "--user", user], /given twice/],
        ["--delete-user on apply", ["apply", "--user", user, "--delete-user", "yes"], /does not take/],
        ["missing value", ["apply", "--user"], /needs a value/],
    ];
    for (const [title, args, message] of cases) {
        it(`arguments: rejects ${title} with exit 2, touching nothing`, function () {
            const r = runScript(args);
            assert.equal(r.status, 2, r.stderr);
            assert.equal(r.json.ok, false);
            assert.match(r.json.error, message);
            assertUntouched(title);
        });
    }
    it("arguments: rejects --options with userns-remap with jq as the JSON tool too", function () {
        const r = runScript(["apply", "--user", user, "--options", '{"userns-remap": "x"}'], { HH_DOCKER_JSON_TOOL: "jq" });
        assert.equal(r.status, 2);
        assert.match(r.json.error, /must not set userns-remap/);
    });

    it("facts: reports the daemon, the config and the dockerd flags without changing anything", function () {
        const r = runScript(["facts"]);
        assert.equal(r.status, 0, r.stderr);
        const f = r.json;
        assert.equal(f.distro.id, "debian");
        assert.equal(f.init, "none", "no systemd as PID 1 on this machine");
        assert.equal(f.docker.installed, true);
        assert.match(f.docker.version, /^20\.10\./);
        assert.equal(f.docker.validateSupported, false, "dockerd 20.10 has no --validate");
        assert.equal(f.config.raw, ORIGINAL);
        assert.equal(f.config.valid, true);
        assert.equal(f.config.usernsRemap, null);
        assert.equal(f.daemon.running, true);
        assert.equal(f.daemon.usernsActive, false);
        assert.equal(f.daemon.dockerRootDir, dockerd().dataRoot);
        assert.equal(f.flags.source, "HH_DOCKERD_FLAGS");
        assert.equal(f.flags.configFile, dockerd().config);
        for (const k of ["hosts", "data-root", "exec-root", "pidfile", "bridge", "iptables", "cgroup-parent"]) {
            assert.ok(f.flags.keys.includes(k), `flag key ${k} in ${f.flags.keys}`);
        }
        assert.deepEqual(f.flags.duplicates, []);
        assertUntouched("facts");
    });

    it("facts: reports daemon.json keys that a dockerd flag also sets (dockerd would not start)", function () {
        const other = path.join(dockerd().dir, "dup.json");
        fs.writeFileSync(other, '{"hosts": ["unix:///tmp/x.sock"], "debug": true, "data-root": "/x"}\n');
        const r = runScript(["facts"], { HH_DOCKER_CONFIG: other });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.json.flags.duplicates, ["hosts", "data-root"]);
        const bad = runScript(["facts"], { HH_DOCKER_CONFIG: path.join(dockerd().dir, "none.json.x") });
        assert.equal(bad.json.config.exists, false);
        fs.writeFileSync(other, "{ nope");
        const m = runScript(["facts"], { HH_DOCKER_CONFIG: other });
        assert.equal(m.json.config.valid, false);
        assert.match(m.json.config.error, /Expecting property name/);
        fs.rmSync(other);
    });

    it("refuses --options that a dockerd flag already sets (exit 3, untouched)", function () {
        const r = runScript(["apply", "--user", user, "--options", '{"hosts": ["unix:///tmp/other.sock"]}']);
        assert.equal(r.status, 3, r.stderr);
        assert.match(r.json.error, /flags that set hosts/);
        assertUntouched("flag duplicate");
    });

    it("refuses when dockerd's command line sets userns-remap or reads another config file (exit 3)", function () {
        const flags = "/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock --userns-remap=default";
        const r = runScript(["apply", "--user", user], { HH_DOCKERD_FLAGS: flags });
        assert.equal(r.status, 3, r.stderr);
        assert.match(r.json.error, /flags that set userns-remap/);
        const f = runScript(["facts"], { HH_DOCKERD_FLAGS: flags });
        assert.deepEqual(f.json.flags.keys, ["hosts", "containerd", "userns-remap"]);
        const c = runScript(["apply", "--user", user], { HH_DOCKERD_FLAGS: "dockerd --config-file=/etc/docker/other.json" });
        assert.equal(c.status, 3, c.stderr);
        assert.match(c.json.error, /started with --config-file \/etc\/docker\/other.json/);
        assertUntouched("flag checks");
    });

    it("refuses a user with no subordinate range (exit 3) and creates no account", function () {
        const r = runScript(["apply", "--user", `hhn-${suffix}`]);
        assert.equal(r.status, 3);
        assert.match(r.json.error, /has no range in \/etc\/subuid/);
        assert.equal(accountExists(`hhn-${suffix}`), false);
        assertUntouched("no subuid");
    });

    it("--require-no-containers yes with a running container: refuses, untouched, container still running", function () {
        dockerd().dockerOk("run", "-d", "--name", "busy", busyboxImage, ...sleeper);
        const r = runScript(["apply", "--user", user, "--require-no-containers", "yes"]);
        assert.equal(r.status, 3, r.stderr);
        assert.match(r.json.error, /--require-no-containers yes and 1 container\(s\) run: busy/);
        assertUntouched("require-no-containers");
        assert.equal(dockerd().dockerOk("inspect", "-f", "{{.State.Running}}", "busy"), "true");
    });

    it("plan: shows the merged config and the containers that would disappear, read-only", function () {
        const pidBefore = dockerd().pid();
        const py = runScript(["plan", "--user", user]);
        const jq = runScript(["plan", "--user", user], { HH_DOCKER_JSON_TOOL: "jq" });
        assert.equal(py.status, 0, py.stderr);
        assert.equal(jq.status, 0, jq.stderr);
        assert.equal(py.json.changed, true);
        assert.equal(py.json.restartNeeded, true);
        assert.deepEqual(py.json.invisibleContainers, ["busy"]);
        assert.deepEqual(JSON.parse(py.json.newConfig), { ...JSON.parse(ORIGINAL), "userns-remap": user });
        assert.equal(jq.json.newConfig, py.json.newConfig, "python3 and jq render the same bytes");
        assert.equal(py.json.expectedRootSuffix, `${start}.${start}`);
        assert.equal(dockerd().pid(), pidBefore);
        assertUntouched("plan");
    });

    it("stops on a malformed daemon.json: exit 4, names the file and the parser's message, file untouched, docker serving", function () {
        const malformed = '{\n  "log-driver": "json-file",,\n}\n';
        fs.writeFileSync(dockerd().config, malformed);
        try {
            for (const tool of ["python3", "jq"]) {
                const r = runScript(["apply", "--user", user], { HH_DOCKER_JSON_TOOL: tool });
                assert.equal(r.status, 4, r.stderr);
                assert.ok(r.json.error.includes(dockerd().config), r.json.error);
                assert.match(r.json.error, tool === "python3" ? /Expecting property name.*line 2 column 29/ : /parse error: .*line 2, column 29/);
                assert.equal(configBytes(), malformed);
                assert.equal(fs.existsSync(backup()), false);
                assert.equal(accountExists(user), false);
            }
            assert.ok(dockerd().serving(), "docker still serving");
        } finally {
            fs.writeFileSync(dockerd().config, ORIGINAL);
        }
        assertUntouched("malformed");
    });

    it("rolls back a config dockerd refuses to start with: exit 6, original bytes back, docker serving, dockerd's message", function () {
        dockerd().dockerOk("rm", "-f", "busy");
        const r = runScript(["apply", "--user", user, "--options", '{"bogus-key": true}']);
        timings["failed apply + rollback"] = r.ms;
        assert.equal(r.status, 6, r.stderr);
        assert.equal(r.json.rolledBack, true);
        assert.equal(r.json.daemonServing, true);
        assert.match(r.json.error, /the following directives don't match any configuration option: bogus-key/);
        assert.equal(configBytes(), ORIGINAL);
        assert.equal(configMode(), ORIGINAL_MODE);
        assert.equal(fs.existsSync(backup()), false, "the backup made by the failed run is gone too");
        assert.ok(dockerd().serving());
        const info = dockerd().info();
        assert.ok(!info.securityOptions.includes("name=userns"), String(info.securityOptions));
        assert.equal(info.rootDir, dockerd().dataRoot);
        // The account stays (it was created before the restart) and is recorded as ours.
        assert.equal(accountExists(user), true);
        assert.match(fs.readFileSync(`${dockerd().config}.hardened-hosts.user`, "utf8"), new RegExp(`^user ${user}$`, "m"));
    });

    it("apply: keeps every other key, owner and mode; docker runs remapped to the user's range", function () {
        dockerd().dockerOk("run", "-d", "--name", "busy", busyboxImage, ...sleeper);
        // A container runs: the switch stops and hides it only when asked (--containers stop; the
        // default, refuse, is docker-remap-shared.test.ts's). Later applies here ask too.
        const r = runScript(["apply", "--user", user, "--containers", "stop", "--require-no-containers", "no"]);
        timings["apply (restart included)"] = r.ms;
        assert.equal(r.status, 0, r.stderr);
        const j = r.json;
        assert.equal(j.ok, true);
        assert.equal(j.changed, true);
        assert.equal(j.restarted, true);
        assert.equal(j.user.name, user);
        assert.equal(j.user.subuid.start, start);
        assert.equal(j.user.subgid.start, start);
        assert.equal(j.user.uid, Number(run("id", ["-u", user]).stdout.trim()));
        assert.deepEqual(j.runningBefore, ["busy"]);
        assert.deepEqual(j.invisibleContainers, ["busy"]);
        assert.ok(j.securityOptions.includes("name=userns"), String(j.securityOptions));
        assert.equal(j.dockerRootDir, `${dockerd().dataRoot}/${start}.${start}`);
        assert.deepEqual(JSON.parse(configBytes()), { ...JSON.parse(ORIGINAL), "userns-remap": user });
        assert.equal(configMode(), ORIGINAL_MODE);
        assert.equal(fs.readFileSync(backup(), "utf8"), ORIGINAL);

        const info = dockerd().info();
        assert.ok(info.securityOptions.includes("name=userns"));
        assert.ok(info.rootDir.endsWith(`/${start}.${start}`), info.rootDir);
        assert.equal(dockerd().dockerOk("ps", "-a", "--format", "{{.Names}}"), "", "the old container is not visible any more");
        const passwd = run("getent", ["passwd", user]).stdout.trim().split(":");
        assert.equal(passwd[6], "/usr/sbin/nologin");
        assert.ok(Number(passwd[2]) < 1000, `a system account: ${passwd[2]}`);
    });

    it("containers are remapped: uid_map, host UID of the process, owner of files on a bind mount", function () {
        const dd = dockerd();
        dd.importBusybox(tar); // the remapped root has no images yet
        assert.equal(dd.dockerOk("run", "--rm", busyboxImage, "cat", "/proc/self/uid_map").split(/\s+/).join(" "), `0 ${start} 65536`);
        assert.equal(dd.dockerOk("run", "--rm", busyboxImage, "cat", "/proc/self/gid_map").split(/\s+/).join(" "), `0 ${start} 65536`);

        const id = dd.dockerOk("run", "-d", "--name", "probe", busyboxImage, ...sleeper);
        try {
            const pid = dd.dockerOk("inspect", "-f", "{{.State.Pid}}", id);
            // ps prints "uid" as a signed 32-bit number (-2147483648 for 2^31): ask for ruser,
            // which is numeric for an ID with no passwd entry.
            assert.equal(run("ps", ["-o", "ruser:20=", "-p", pid]).stdout.trim(), String(start));
            const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
            assert.match(status, new RegExp(`^Uid:\\s+${start}\\s+${start}\\s+${start}\\s+${start}$`, "m"));
        } finally {
            dd.dockerOk("rm", "-f", "probe");
        }

        const bind = path.join(dd.dir, "bind");
        fs.mkdirSync(bind, { mode: 0o777 });
        fs.chmodSync(bind, 0o777);
        dd.dockerOk("run", "--rm", "-v", `${bind}:/data`, busyboxImage, "sh", "-c", "echo hi > /data/written && id -u");
        const st = fs.statSync(path.join(bind, "written"));
        assert.equal(st.uid, start);
        assert.equal(st.gid, start);
    });

    it("a second apply changes nothing and does not restart", function () {
        const before = configBytes();
        const pid = dockerd().pid();
        const starts = dockerd().logText().split("Starting up").length;
        const r = runScript(["apply", "--user", user, "--require-no-containers", "yes"]);
        timings["second apply (no-op)"] = r.ms;
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.json.changed, false);
        assert.equal(r.json.restarted, false);
        assert.equal(r.json.user.created, false);
        assert.equal(configBytes(), before);
        assert.equal(dockerd().pid(), pid);
        assert.equal(dockerd().logText().split("Starting up").length, starts);
        assert.equal(fs.readFileSync(backup(), "utf8"), ORIGINAL, "the backup still holds the true original");
    });

    it("a later apply with new options (jq as the JSON tool) keeps the first backup and stays remapped", function () {
        const r = runScript(["apply", "--user", user, "--containers", "stop", "--options", '{"max-concurrent-uploads": 2}'], { HH_DOCKER_JSON_TOOL: "jq" });
        timings["apply with new options (restart)"] = r.ms;
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.json.changed, true);
        assert.deepEqual(r.json.invisibleContainers, [], "same remap: nothing disappears");
        assert.deepEqual(JSON.parse(configBytes()), { ...JSON.parse(ORIGINAL), "userns-remap": user, "max-concurrent-uploads": 2 });
        assert.equal(fs.readFileSync(backup(), "utf8"), ORIGINAL);
        assert.ok(dockerd().info().rootDir.endsWith(`/${start}.${start}`));
    });

    for (const tool of ["python3", "jq"]) {
        it(`a key dropped from --options goes back to the original's value, or away (${tool})`, function () {
            // The previous test left max-concurrent-uploads managed; "debug" overrides an original key.
            const set = runScript(["apply", "--user", user, "--containers", "stop", "--options", '{"max-concurrent-uploads": 2, "debug": true}'], { HH_DOCKER_JSON_TOOL: tool });
            assert.equal(set.status, 0, set.stderr);
            assert.equal(JSON.parse(configBytes()).debug, true);
            const r = runScript(["apply", "--user", user, "--containers", "stop", "--range", `${start}:65536`], { HH_DOCKER_JSON_TOOL: tool });
            assert.equal(r.status, 0, r.stderr);
            assert.match(r.stderr, /no longer managed, back to the original or removed: max-concurrent-uploads debug/);
            assert.deepEqual(JSON.parse(configBytes()), { ...JSON.parse(ORIGINAL), "userns-remap": user });
            assert.equal(fs.existsSync(`${dockerd().config}.hardened-hosts.keys`), false, "nothing is managed beyond userns-remap");
            assert.ok(dockerd().info().rootDir.endsWith(`/${start}.${start}`));
        });
    }

    it("--range that is not the user's first range: exit 3, daemon.json untouched", function () {
        const before = configBytes();
        const r = runScript(["apply", "--user", user, "--containers", "stop", "--range", `${start + 65536}:65536`]);
        assert.equal(r.status, 3, r.stderr);
        assert.match(r.json.error, new RegExp(`first range is subuid ${start}:65536, subgid ${start}:65536, not the planned ${start + 65536}:65536`));
        assert.equal(configBytes(), before);
    });

    it("remove: daemon.json back to its starting bytes, docker serving without userns, user kept", function () {
        const r = runScript(["remove", "--user", user]);
        timings["remove (restart included)"] = r.ms;
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.json.restored, "restore");
        assert.equal(r.json.changed, true);
        assert.equal(r.json.restarted, true);
        assert.equal(r.json.usernsActive, false);
        assert.equal(r.json.userDeleted, false);
        assert.match(r.json.userKept, /--delete-user is not yes/);
        assert.equal(configBytes(), ORIGINAL);
        assert.equal(configMode(), ORIGINAL_MODE);
        assert.equal(fs.existsSync(backup()), false);
        const info = dockerd().info();
        assert.ok(!info.securityOptions.includes("name=userns"));
        assert.equal(info.rootDir, dockerd().dataRoot);
        assert.equal(dockerd().dockerOk("ps", "-a", "--format", "{{.Names}}"), "busy", "the pre-remap container is visible again");
        assert.equal(accountExists(user), true);
    });

    it("remove again: nothing to do, no restart", function () {
        const pid = dockerd().pid();
        const r = runScript(["remove", "--user", user]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.json.changed, false);
        assert.equal(r.json.restarted, false);
        assert.equal(dockerd().pid(), pid);
        assert.equal(configBytes(), ORIGINAL);
    });

    it("a symlinked daemon.json stays a link: apply and remove write its target; a dangling link is refused", function () {
        const cfg = dockerd().config;
        const managed = path.join(dockerd().dir, "cm");
        fs.mkdirSync(managed, { recursive: true });
        const target = path.join(managed, "daemon.json");
        fs.renameSync(cfg, target);
        fs.symlinkSync(target, cfg);
        try {
            const r = runScript(["apply", "--user", user, "--containers", "stop", "--range", `${start}:65536`]);
            assert.equal(r.status, 0, r.stderr);
            assert.ok(fs.lstatSync(cfg).isSymbolicLink(), "still a link");
            assert.equal(JSON.parse(fs.readFileSync(target, "utf8"))["userns-remap"], user);
            assert.ok(dockerd().info().rootDir.endsWith(`/${start}.${start}`), "dockerd read it through the link");
            assert.equal(runScript(["remove", "--user", user]).status, 0);
            assert.ok(fs.lstatSync(cfg).isSymbolicLink());
            assert.equal(fs.readFileSync(target, "utf8"), ORIGINAL);

            fs.rmSync(cfg);
            fs.symlinkSync(path.join(managed, "missing.json"), cfg);
            const dangling = runScript(["apply", "--user", user]);
            assert.equal(dangling.status, 4, dangling.stderr);
            assert.match(dangling.json.error, /daemon\.json is a symlink to .*missing\.json, which does not exist/);
            assert.equal(fs.existsSync(path.join(managed, "missing.json")), false, "nothing written");
        } finally {
            fs.rmSync(cfg, { force: true });
            fs.renameSync(target, cfg);
        }
    });

    it("a daemon.json linked into a directory whose name is not UTF-8: the link is kept and every output byte is UTF-8", function () {
        // The Command provider's outputs are protobuf strings: one byte that is not UTF-8 fails the
        // RPC after the script ran, and its result is lost. Host paths can hold any bytes.
        const cfg = dockerd().config;
        const managed = Buffer.concat([Buffer.from(`${dockerd().dir}/cm-`), Buffer.from([0xff, 0xfe]), Buffer.from("-x")]);
        fs.mkdirSync(managed);
        const target = Buffer.concat([managed, Buffer.from("/daemon.json")]);
        fs.renameSync(cfg, target);
        fs.symlinkSync(target, cfg);
        const utf8 = new TextDecoder("utf-8", { fatal: true });
        const raw = (args: string[]) => {
            const r = spawnSync("bash", ["-s", "--", ...args], { input: scriptText, env: { ...process.env, ...dockerd().env }, timeout: 240_000 });
            // decode() throws on any byte sequence that is not UTF-8.
            const out = utf8.decode(r.stdout), err = utf8.decode(r.stderr);
            return { status: r.status, json: JSON.parse(out.trim().split("\n").pop() ?? ""), out, err };
        };
        try {
            const a = raw(["apply", "--user", user, "--containers", "stop", "--range", `${start}:65536`]);
            assert.equal(a.status, 0, a.err);
            assert.ok(fs.lstatSync(cfg).isSymbolicLink(), "still a link");
            assert.equal(JSON.parse(fs.readFileSync(target, "utf8"))["userns-remap"], user);
            assert.equal(raw(["remove", "--user", user]).status, 0);
            assert.equal(fs.readFileSync(target, "utf8"), ORIGINAL);
            // Dangling, into the same directory: refused, and the message naming it is UTF-8 too.
            fs.rmSync(cfg);
            fs.symlinkSync(Buffer.concat([managed, Buffer.from("/missing-"), Buffer.from([0xc3, 0x28]), Buffer.from(".json")]), cfg);
            const d = raw(["apply", "--user", user]);
            assert.equal(d.status, 4, d.err);
            assert.match(d.json.error, /daemon\.json is a symlink to .*cm-.*missing-.*\.json, which does not exist/);
        } finally {
            fs.rmSync(cfg, { force: true });
            fs.renameSync(target, cfg);
            fs.rmSync(managed, { recursive: true, force: true });
        }
    });

    it("no daemon.json at first: apply creates it (and marks it), remove deletes it", function () {
        const dd = dockerd();
        dd.dockerOk("rm", "-f", "busy");
        fs.rmSync(dd.config);
        dd.start(); // the hook runs dockerd with an empty object when daemon.json is absent
        const a = runScript(["apply", "--user", user, "--containers", "stop", "--options", '{"log-level": "info"}']);
        timings["apply creating daemon.json"] = a.ms;
        assert.equal(a.status, 0, a.stderr);
        assert.deepEqual(JSON.parse(configBytes()), { "log-level": "info", "userns-remap": user });
        assert.equal(configMode(), 0o644);
        assert.equal(fs.existsSync(`${dd.config}.hardened-hosts.created`), true);
        assert.equal(fs.existsSync(backup()), false);
        const r = runScript(["remove", "--user", user]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.json.restored, "delete");
        assert.equal(fs.existsSync(dd.config), false);
        assert.equal(fs.existsSync(`${dd.config}.hardened-hosts.created`), false);
        assert.ok(!dd.info().securityOptions.includes("name=userns"));
    });

    it("remove --delete-user yes deletes the account apply created, and its record", function () {
        const r = runScript(["remove", "--user", user, "--delete-user", "yes"]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.json.userDeleted, true);
        assert.equal(accountExists(user), false);
        assert.equal(accountExists(user, "group"), false);
        assert.equal(fs.existsSync(`${dockerd().config}.hardened-hosts.user`), false);
    });
});
