import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { repoRoot } from "../support/pulumi-cli";

// subids-host.sh on hosts shared with others (issue 28): no subordinate IDs for system accounts,
// the next step's daemon.json checked before the first write, no space refused up front, and a
// write failing midway rolled back. The real script (bash + this machine's awk) on a temp /etc;
// the tmpfs and read-only mounts are this test's own (root), removed in after().
const script = path.join(repoRoot, "components", "subids", "subids-host.sh");

interface HostRun {
    status: number;
    json: { ok: boolean; error?: string; conflicts?: string[]; changed?: string[] };
    stderr: string;
}

function run(etc: string, args: string[]): HostRun {
    const r = spawnSync("bash", [script, ...args], { env: { ...process.env, HH_ETC: etc }, encoding: "utf8" });
    const last = r.stdout.trim().split("\n").pop() ?? "";
    return { status: r.status ?? -1, json: JSON.parse(last), stderr: r.stderr };
}

/** Every file under dir (relative path → bytes), links as "-> target". */
function tree(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const p = path.join(d, e.name);
            const rel = path.relative(dir, p);
            if (e.isSymbolicLink()) out[rel] = `-> ${fs.readlinkSync(p)}`;
            else if (e.isDirectory()) walk(p);
            else out[rel] = fs.readFileSync(p, "latin1");
        }
    };
    walk(dir);
    return out;
}

const mounts: string[] = [];
function mountTmpfs(dir: string, kib: number): void {
    const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${kib}k`, "tmpfs", dir], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`mount tmpfs: ${r.stderr}`);
    mounts.push(dir);
}

describe("subids-host.sh on a shared host (system accounts, preflight, rollback)", function () {
    this.timeout(60_000);
    let etc: string;
    const file = (name: string) => path.join(etc, name);
    const PASSWD = [
        "root:x:0:0:root:/root:/bin/bash",
        "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
        "dockremap:x:998:998::/nonexistent:/usr/sbin/nologin",
        "svc:x:600:600::/nonexistent:/usr/sbin/nologin",
        "alice:x:1000:1000::/home/alice:/bin/bash",
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
        "",
    ].join("\n");
    const SUBUID = "# local\nalice:100000:65536\n";

    beforeEach(function () {
        etc = fs.mkdtempSync(path.join(os.tmpdir(), "hh-shared-"));
        fs.writeFileSync(file("passwd"), PASSWD);
        fs.writeFileSync(file("group"), "root:x:0:\nalice:x:1000:\n");
        fs.writeFileSync(file("subuid"), SUBUID);
    });
    afterEach(function () {
        while (mounts.length > 0) spawnSync("umount", ["-l", mounts.pop()!]);
        fs.rmSync(etc, { recursive: true, force: true });
    });

    it("refuses system accounts (UID below UID_MIN, nobody, UID 0, numeric system UIDs), naming each, and writes nothing", function () {
        const before = tree(etc);
        const r = run(etc, ["apply", "daemon:2147483648:65536", "nobody:2147549184:65536", "0:2147614720:65536", "999:2147680256:65536", "root:2147745792:65536", "tenant-b:2147811328:65536"]);
        assert.equal(r.status, 3, r.stderr);
        const c = r.json.conflicts!.join("\n");
        assert.match(c, /owner daemon is a system account \(UID 1, below UID_MIN 1000/);
        assert.match(c, /owner nobody is a system account \(UID 65534/);
        assert.match(c, /owner 0 is UID 0 \(root\)/);
        assert.match(c, /owner 999 is a system UID/);
        assert.match(c, /owner root is a root account/);
        assert.doesNotMatch(c, /owner tenant-b/);
        assert.deepEqual(tree(etc), before, "nothing written");
        assert.equal(run(etc, ["check", "daemon:2147483648:65536"]).status, 3, "check says the same");
    });

    it("--system names the owner that may be a system account (the remap user); root never", function () {
        const refused = run(etc, ["apply", "dockremap:2147483648:65536"]);
        assert.equal(refused.status, 3);
        assert.match(refused.json.error!, /owner dockremap is a system account \(UID 998.*: nothing changed$/);
        const ok = run(etc, ["apply", "--system", "dockremap", "dockremap:2147483648:65536", "tenant-b:2147549184:65536"]);
        assert.equal(ok.status, 0, ok.stderr);
        assert.match(fs.readFileSync(file("subuid"), "utf8"), /^dockremap:2147483648:65536$/m);
        assert.equal(run(etc, ["apply", "--system", "root", "root:2147483648:65536"]).status, 3);
        assert.equal(run(etc, ["remove"]).status, 0);
        assert.equal(fs.readFileSync(file("subuid"), "utf8"), SUBUID);
    });

    it("reads UID_MIN from login.defs", function () {
        fs.writeFileSync(file("login.defs"), "# x\nUID_MIN\t\t\t  500\nUID_MAX 60000\n");
        assert.equal(run(etc, ["check", "svc:2147483648:65536"]).status, 0, "600 >= UID_MIN 500: a login account here");
        fs.writeFileSync(file("login.defs"), "UID_MIN 700\n");
        assert.equal(run(etc, ["check", "svc:2147483648:65536"]).status, 3);
    });

    it("--docker-config: a daemon.json with a UTF-8 BOM, malformed, not an object or a dangling link is refused before anything is written", function () {
        const docker = path.join(etc, "docker");
        fs.mkdirSync(docker);
        const cfg = path.join(docker, "daemon.json");
        const cases: [string, Buffer | string | null, RegExp][] = [
            ["BOM", Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"debug": true}\n')]), /starts with a UTF-8 byte order mark/],
            ["malformed", '{"debug": true,}\n', /daemon\.json is malformed: /],
            ["array", "[]\n", /top-level value is not an object/],
            ["dangling", null, /is a symlink to .*which does not exist/],
        ];
        for (const [what, bytes, message] of cases) {
            fs.rmSync(cfg, { force: true });
            if (bytes === null) fs.symlinkSync(path.join(docker, "gone.json"), cfg);
            else fs.writeFileSync(cfg, bytes);
            const before = tree(etc);
            const r = run(etc, ["apply", "--docker-config", cfg, "tenant-a:2147483648:65536"]);
            assert.equal(r.status, 3, `${what}: ${r.stderr}`);
            assert.match(r.json.error!, message, what);
            assert.match(r.json.error!, /nothing changed$/, what);
            assert.deepEqual(tree(etc), before, `${what}: nothing written`);
        }
        fs.rmSync(cfg);
        fs.writeFileSync(cfg, '{"debug": true}\n');
        assert.equal(run(etc, ["apply", "--docker-config", cfg, "tenant-a:2147483648:65536"]).status, 0, "a good daemon.json passes");
        fs.rmSync(cfg);
        assert.equal(run(etc, ["apply", "--docker-config", cfg, "tenant-a:2147483648:65536"]).status, 0, "an absent one too");
    });

    it("no space in a file's folder: refused before writing, naming the folder; no temp file", function () {
        mountTmpfs(etc, 96);
        fs.writeFileSync(file("passwd"), PASSWD);
        fs.writeFileSync(file("group"), "root:x:0:\n");
        fs.writeFileSync(file("subuid"), SUBUID);
        fs.writeFileSync(file("fill"), Buffer.alloc(60 * 1024));
        const before = tree(etc);
        const r = run(etc, ["apply", "tenant-a:2147483648:65536"]);
        assert.equal(r.status, 3, r.stderr);
        assert.match(r.json.error!, new RegExp(`^2 conflicts with the host, nothing changed; the first: no space left on ${etc}: \\d+ KiB free`));
        assert.deepEqual(tree(etc), before);
    });

    it("no space for the daemon.json the next step writes: refused before this step writes", function () {
        const docker = path.join(etc, "docker");
        fs.mkdirSync(docker);
        mountTmpfs(docker, 64);
        const cfg = path.join(docker, "daemon.json");
        fs.writeFileSync(cfg, '{"debug": true}\n');
        fs.writeFileSync(path.join(docker, "fill"), Buffer.alloc(40 * 1024));
        const before = tree(etc);
        const r = run(etc, ["apply", "--docker-config", cfg, "tenant-a:2147483648:65536"]);
        assert.equal(r.status, 3, r.stderr);
        assert.match(r.json.error!, new RegExp(`^no space left on ${docker}: \\d+ KiB free, \\d+ KiB needed to write ${cfg} and its backup: nothing changed$`));
        assert.deepEqual(tree(etc), before);
    });

    it("remove --delete-accounts: the recorded accounts go once our lines are gone, unless something still uses them; /etc/subuid keeps its bytes", function () {
        const name = `hhd-${process.pid % 100000}`;
        const real = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, "latin1") : undefined);
        const add = spawnSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", name], { encoding: "utf8" });
        if (add.status !== 0) throw new Error(add.stderr);
        let sleeper: ReturnType<typeof spawn> | undefined;
        try {
            const uid = spawnSync("id", ["-u", name], { encoding: "utf8" }).stdout.trim();
            fs.appendFileSync(file("passwd"), `${name}:x:${uid}:${uid}::/nonexistent:/usr/sbin/nologin\n`);
            const docker = path.join(etc, "docker");
            fs.mkdirSync(docker);
            const record = path.join(docker, "daemon.json.hardened-hosts.user");
            const realEtc = { subuid: real("/etc/subuid"), subgid: real("/etc/subgid"), dash: real("/etc/subuid-") };
            const apply = () => assert.equal(run(etc, ["apply", "--system", name, `${name}:2147483648:65536`]).status, 0);

            // Still remapped to by daemon.json beside the record: kept, and the record stays.
            apply();
            fs.writeFileSync(record, `group ${name}\nuser ${name}\n`);
            fs.writeFileSync(path.join(docker, "daemon.json"), `{"userns-remap": "${name}"}\n`);
            let r = run(etc, ["remove", "--delete-accounts", record]) as HostRun & { json: { keptAccounts?: string[]; deletedAccounts?: string[] } };
            assert.equal(r.status, 0, r.stderr);
            assert.deepEqual(r.json.deletedAccounts, []);
            assert.match(r.json.keptAccounts!.join("\n"), new RegExp(`user ${name}: .*daemon.json still remaps to ${name}`));
            assert.match(r.json.keptAccounts!.join("\n"), new RegExp(`group ${name}: group ${name} is a user's primary group`));
            assert.equal(fs.readFileSync(record, "utf8"), `user ${name}\ngroup ${name}\n`);

            // A process runs as the user: kept.
            fs.rmSync(path.join(docker, "daemon.json"));
            sleeper = spawn("setpriv", [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "sleep", "30"], { stdio: "ignore" });
            spawnSync("sleep", ["0.3"]);
            apply();
            r = run(etc, ["remove", "--delete-accounts", record]) as typeof r;
            assert.match(r.json.keptAccounts!.join("\n"), new RegExp(`user ${name}: processes run as ${name}`));
            sleeper.kill("SIGKILL");
            spawnSync("sleep", ["0.3"]);

            // Nothing uses them: both deleted, the record gone, the machine's /etc/subuid as it was.
            apply();
            r = run(etc, ["remove", "--delete-accounts", record]) as typeof r;
            assert.equal(r.status, 0, r.stderr);
            // userdel takes the user's own group too (USERGROUPS_ENAB); groupdel would otherwise.
            assert.deepEqual(r.json.deletedAccounts!.filter((x) => x !== `group ${name}`), [`user ${name}`], r.stderr);
            assert.equal(spawnSync("getent", ["passwd", name]).status, 2);
            assert.equal(spawnSync("getent", ["group", name]).status, 2);
            assert.equal(fs.existsSync(record), false);
            assert.equal(fs.readFileSync(file("subuid"), "utf8"), SUBUID);
            assert.deepEqual({ subuid: real("/etc/subuid"), subgid: real("/etc/subgid"), dash: real("/etc/subuid-") }, realEtc);
        } finally {
            sleeper?.kill("SIGKILL");
            if (spawnSync("getent", ["passwd", name]).status === 0) spawnSync("userdel", [name]);
            if (spawnSync("getent", ["group", name]).status === 0) spawnSync("groupdel", [name]);
        }
    });

    it("--stack: a block of before stacks is adopted on upgrade; another stack's block is foreign (overlap and the same range refused naming it); each remove takes only its own", function () {
        const read = (f: string) => fs.readFileSync(file(f), "utf8");
        const legacy = run(etc, ["apply", "tenant-a:2147483648:65536"]);
        assert.equal(legacy.status, 0, legacy.stderr);
        const before = read("subuid");
        assert.match(before, /^# BEGIN hardened-hosts managed block \(do not edit\)$/m);
        // Upgrade: the same lines, now marked with the stack; nothing removed or added.
        const up = run(etc, ["apply", "--stack", "proj/a", "tenant-a:2147483648:65536"]);
        assert.equal(up.status, 0, up.stderr);
        const a = read("subuid");
        assert.equal(a, before.replace("managed block (do not edit)", "managed block of proj/a (do not edit)").replace(/# END hardened-hosts managed block$/m, "# END hardened-hosts managed block of proj/a"));
        assert.equal(run(etc, ["apply", "--stack", "proj/a", "tenant-a:2147483648:65536"]).json.changed!.length, 0, "then a no-change apply");
        const withA = tree(etc);

        const overlap = run(etc, ["apply", "--stack", "proj/b", "tenant-b:2147483648:131072"]);
        assert.equal(overlap.status, 3);
        assert.match(overlap.json.error!, /planned tenant-b 2147483648-2147614719 overlaps line \d+ \(tenant-a:2147483648:65536\) of stack proj\/a's block/);
        const same = run(etc, ["apply", "--stack", "proj/b", "tenant-a:2147483648:65536"]);
        assert.equal(same.status, 3);
        assert.match(same.json.error!, /planned tenant-a:2147483648:65536 is line \d+ of stack proj\/a's block: two stacks never share a range/);
        assert.deepEqual(tree(etc), withA, "nothing written");

        const b = run(etc, ["apply", "--stack", "proj/b", "tenant-b:2147549184:65536"]);
        assert.equal(b.status, 0, b.stderr);
        assert.equal(read("subuid"), `${a}# BEGIN hardened-hosts managed block of proj/b (do not edit)\ntenant-b:2147549184:65536\n# END hardened-hosts managed block of proj/b\n`);
        assert.equal(run(etc, ["apply", "--stack", "proj/a", "tenant-a:2147483648:65536"]).json.changed!.length, 0, "A's apply leaves B's block alone");

        assert.equal(run(etc, ["remove", "--stack", "proj/b"]).status, 0);
        // (*.hardened-hosts.bak is the file's previous version, rewritten by every write.)
        const noBak = (t: Record<string, string>) => Object.fromEntries(Object.entries(t).filter(([k]) => !k.endsWith(".bak")));
        assert.deepEqual(noBak(tree(etc)), noBak(withA), "B's remove gives back exactly A's files and owned lists");
        assert.equal(run(etc, ["remove", "--stack", "proj/a"]).status, 0);
        assert.equal(read("subuid"), SUBUID);
        assert.equal(fs.existsSync(file("subgid")), false, "subgid did not exist: the last remove deletes it");
        assert.deepEqual(Object.keys(tree(etc)).sort(), ["group", "passwd", "subuid"]);
    });

    it("a write failing midway (subgid on a read-only file system) puts subuid, backups, markers and the owned list back", function () {
        const ro = fs.mkdtempSync(path.join(os.tmpdir(), "hh-ro-"));
        try {
            fs.writeFileSync(path.join(ro, "subgid"), "alice:100000:65536\n");
            fs.symlinkSync(path.join(ro, "subgid"), file("subgid"));
            const m = spawnSync("mount", ["--bind", "-o", "ro", ro, ro], { encoding: "utf8" });
            if (m.status !== 0) throw new Error(m.stderr);
            spawnSync("mount", ["-o", "remount,bind,ro", ro]);
            mounts.push(ro);
            const before = tree(etc);
            const r = run(etc, ["apply", "tenant-a:2147483648:65536"]);
            assert.equal(r.status, 1, r.stderr);
            assert.match(r.json.error!, new RegExp(`cannot create a temp file in ${ro}: .*nothing changed \\(the files were put back`));
            assert.deepEqual(tree(etc), before, "subuid, its backup and the owned list as they were; no temp file");
            assert.equal(fs.readFileSync(path.join(ro, "subgid"), "utf8"), "alice:100000:65536\n");
        } finally {
            spawnSync("umount", ["-l", ro]);
            mounts.splice(mounts.indexOf(ro), 1);
            fs.rmSync(ro, { recursive: true, force: true });
        }
    });
});
