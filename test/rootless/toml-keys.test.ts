import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { repoRoot } from "../support/pulumi-cli";

// components/rootless/toml-keys.sh on its own: the awk key editor rootless.sh uses on the user's
// containers.conf and storage.conf. One line changes; every other byte stays.
describe("toml-keys.sh (toml_edit)", function () {
    let dir: string;
    before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-toml-")); });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    const lib = path.join(repoRoot, "components", "rootless", "toml-keys.sh");
    function edit(text: string, ...args: string[]): { status: number; out: string } {
        const file = path.join(dir, "in.toml");
        fs.writeFileSync(file, text);
        const [op, ...rest] = args;
        const r = spawnSync("bash", ["-c", `. "$1"; shift; toml_edit "$@"`, "bash", lib, op!, file, ...rest], { encoding: "utf8" });
        return { status: r.status ?? -1, out: r.stdout };
    }

    const conf = [
        "# user's own comment",
        "[containers]",
        'log_driver = "k8s-file"',
        "",
        "[engine]",
        'events_logger = "file"',
        'runtime = "runc" # mine',
        "hooks_dir = [",
        '  "/a", # runtime = "not a key"',
        "]",
        "",
        "[engine.runtimes]",
        'crun = ["/usr/bin/crun"]',
        "",
    ].join("\n");

    it("get: the key's line in its section only; exit 3 when absent", function () {
        assert.deepEqual(edit(conf, "get", "engine", "runtime"), { status: 0, out: 'runtime = "runc" # mine\n' });
        assert.equal(edit(conf, "get", "containers", "runtime").status, 3);
        assert.equal(edit(conf, "get", "engine.runtimes", "runtime").status, 3);
        assert.equal(edit("", "get", "engine", "runtime").status, 3);
    });

    it("set: replaces the one line, leaving every other byte", function () {
        const r = edit(conf, "set", "engine", "runtime", 'runtime = "crun" # ours');
        assert.equal(r.status, 0);
        assert.equal(r.out, conf.replace('runtime = "runc" # mine', 'runtime = "crun" # ours'));
    });

    it("set: adds the key right after its section's header, or the section at the end", function () {
        const added = edit(conf, "set", "containers", "pids_limit", "pids_limit = 0");
        assert.equal(added.out, conf.replace("[containers]\n", "[containers]\npids_limit = 0\n"));
        const section = edit('[engine]\nruntime = "runc"\n', "set", "storage", "driver", 'driver = "vfs"');
        assert.equal(section.out, '[engine]\nruntime = "runc"\n\n[storage]\ndriver = "vfs"\n');
        assert.equal(edit("", "set", "storage", "driver", 'driver = "vfs"').out, '[storage]\ndriver = "vfs"\n');
    });

    it("a dotted section is a section of its own, and a [[table]] ends the one before", function () {
        const text = '[storage]\ndriver = "overlay"\n[storage.options.overlay]\nmount_program = "/usr/bin/fuse-overlayfs"\n[[x]]\ndriver = "no"\n';
        assert.equal(edit(text, "get", "storage.options.overlay", "mount_program").out, 'mount_program = "/usr/bin/fuse-overlayfs"\n');
        assert.equal(edit(text, "get", "storage", "driver").out, 'driver = "overlay"\n');
        assert.equal(edit(text, "del", "storage", "driver").out, text.replace('driver = "overlay"\n', ""));
    });

    it("del: takes out only the key's line", function () {
        assert.equal(edit(conf, "del", "engine", "runtime").out, conf.replace('runtime = "runc" # mine\n', ""));
        assert.equal(edit(conf, "del", "engine", "nothing").out, conf);
    });

    it("refuses to edit a key whose value spans lines (exit 4), but reads past such values", function () {
        assert.equal(edit(conf, "set", "engine", "hooks_dir", 'hooks_dir = ["/b"]').status, 4);
        assert.equal(edit(conf, "del", "engine", "hooks_dir").status, 4);
        const ml = '[engine]\nenv = """\nruntime = "x"\n"""\n';
        assert.equal(edit(ml, "get", "engine", "runtime").status, 3, "a line inside a multi-line string is no key");
    });
});
