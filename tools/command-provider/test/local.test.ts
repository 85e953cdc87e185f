import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CommandProvider } from "../src/provider";
import { MemorySink, secretOf, urnOf } from "./support";

// Real local commands through the provider's Check/Create/Update/Delete, as the engine calls them.
describe("command provider: local.Command (real processes)", () => {
    const urn = urnOf("command:local:Command", "probe");
    let sink: MemorySink;
    let provider: CommandProvider;
    let dir: string;

    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-local-"));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    beforeEach(() => {
        sink = new MemorySink();
        provider = new CommandProvider(sink);
    });

    async function create(news: Record<string, unknown>) {
        const checked = await provider.check(urn, {}, news);
        assert.deepEqual(checked.failures, []);
        return provider.create(urn, checked.inputs);
    }

    it("create runs the command and records stdout/stderr (one trailing newline trimmed)", async () => {
        const r = await create({ create: "printf 'out\\n\\n'; echo err >&2" });
        assert.match(r.id, /^probe[0-9a-f]{8}$/);
        assert.equal(r.outs.stdout, "out\n");
        assert.equal(r.outs.stderr, "err");
        assert.equal(r.outs.create, "printf 'out\\n\\n'; echo err >&2");
    });

    it("create without a create command runs nothing and has empty outputs", async () => {
        const r = await create({ delete: "true" });
        assert.equal(r.outs.stdout, "");
        assert.equal(r.outs.stderr, "");
    });

    it("passes environment, stdin and dir to the process", async () => {
        const r = await create({ create: 'echo "$GREETING"; cat; pwd', environment: { GREETING: "hello there" }, stdin: "from stdin\n", dir });
        assert.equal(r.outs.stdout, `hello there\nfrom stdin\n${fs.realpathSync(dir)}`);
    });

    it("runs with the interpreter given", async () => {
        const r = await create({ create: "console.log(6 * 7)", interpreter: [process.execPath, "-e"] });
        assert.equal(r.outs.stdout, "42");
    });

    // As strict as 1.2.1, which hangs (64 KiB) or loses the result (UTF-8): fail, never pass.
    it("fails a command whose logged line is over 64 KiB (1.2.1 would never return), not an unlogged one", async () => {
        const long = "head -c 70000 /dev/zero | tr '\\0' x; echo";
        await assert.rejects(create({ create: `${long} >&2` }), /logged output line of 70000 bytes: .*never returns/);
        const r = await create({ create: long, logging: "stderr" });
        assert.equal(r.outs.stdout.length, 70000, "stdout is not logged: 1.2.1 does not scan it");
    });

    it("fails a command whose output is not valid UTF-8 (1.2.1 fails the RPC after it ran)", async () => {
        await assert.rejects(create({ create: "printf 'caf\\351\\n'", logging: "stderr" }), /stdout is not valid UTF-8/);
    });

    it("logs output lines as ephemeral messages of the resource, according to `logging`", async () => {
        await create({ create: "echo one; echo two >&2" });
        assert.deepEqual(sink.statusLines().sort(), ["one", "two"]);
        assert.ok(sink.messages.every((m) => m.urn === urn && m.severity === "info"));

        sink.clear();
        await create({ create: "echo one; echo two >&2", logging: "stderr" });
        assert.deepEqual(sink.statusLines(), ["two"]);
        sink.clear();
        await create({ create: "echo one; echo two >&2", logging: "none" });
        assert.deepEqual(sink.statusLines(), []);
    });

    it("fails with the exit status, the command and its output in the message", async () => {
        await assert.rejects(create({ create: "echo to-out; echo to-err >&2; exit 3" }), (err: Error) => {
            assert.match(err.message, /^exit status 3: running "echo to-out; echo to-err >&2; exit 3":\n/);
            assert.match(err.message, /to-out/);
            assert.match(err.message, /to-err/);
            return true;
        });
    });

    it("does not spell out a secret command in the failure message", async () => {
        await assert.rejects(create({ create: secretOf("echo leaked; exit 1 # token=s3cr3t") }), (err: Error) => {
            assert.match(err.message, /^exit status 1: running \[secret\]:/);
            assert.doesNotMatch(err.message, /s3cr3t/);
            return true;
        });
    });

    it("fails before running anything when dir does not exist", async () => {
        await assert.rejects(create({ create: "true", dir: path.join(dir, "missing") }), /chdir .*missing: no such file or directory/);
    });

    it("reports an interpreter that cannot be found", async () => {
        await assert.rejects(create({ create: "x", interpreter: ["no-such-shell-hh", "-c"] }), /exec: "no-such-shell-hh": executable file not found in \$PATH/);
    });

    it("update runs `update` with the previous outputs in PULUMI_COMMAND_STDOUT/STDERR", async () => {
        const first = await create({ create: "echo v1; echo w1 >&2", update: 'echo "was=$PULUMI_COMMAND_STDOUT/$PULUMI_COMMAND_STDERR"' });
        const news = (await provider.check(urn, first.outs, { create: "echo v1; echo w1 >&2", update: 'echo "was=$PULUMI_COMMAND_STDOUT/$PULUMI_COMMAND_STDERR"', triggers: [] })).inputs;
        const u = await provider.update(first.id, urn, first.outs, news);
        assert.equal(u.outs.stdout, "was=v1/w1");
        assert.equal(u.outs.stderr, "");
    });

    it("update falls back to `create`, and addPreviousOutputInEnv=false hides the previous output", async () => {
        const first = await create({ create: "echo first" });
        const u = await provider.update(first.id, urn, first.outs, { create: 'echo "again:${PULUMI_COMMAND_STDOUT:-none}"', addPreviousOutputInEnv: false });
        assert.equal(u.outs.stdout, "again:none");
    });

    it("update without any command keeps the old outputs", async () => {
        const first = await create({ create: "echo kept" });
        const u = await provider.update(first.id, urn, first.outs, { delete: "true" });
        assert.equal(u.outs.stdout, "kept");
        assert.equal(u.outs.create, undefined);
    });

    it("delete runs `delete` with the last outputs available", async () => {
        const marker = path.join(dir, "deleted.txt");
        const first = await create({ create: "echo state-1", delete: `printf '%s' "$PULUMI_COMMAND_STDOUT" > '${marker}'` });
        await provider.delete(first.id, urn, first.outs);
        assert.equal(fs.readFileSync(marker, "utf8"), "state-1");
    });

    it("a failing delete fails the operation", async () => {
        const first = await create({ create: "true", delete: "exit 7" });
        await assert.rejects(provider.delete(first.id, urn, first.outs), /exit status 7: running "exit 7"/);
    });

    it("refuses assetPaths/archivePaths at Check, before anything runs", async () => {
        const r = await provider.check(urn, {}, { create: "touch should-not-exist", dir, assetPaths: ["**"] });
        assert.deepEqual(r.failures?.map((f) => f.property), ["assetPaths"]);
        assert.equal(fs.existsSync(path.join(dir, "should-not-exist")), false);
    });

    it("cancel kills a running command", async () => {
        const running = create({ create: "sleep 5; true" });
        await new Promise((r) => setTimeout(r, 300));
        await provider.cancel();
        await assert.rejects(running, /signal: killed/);
    });
});
