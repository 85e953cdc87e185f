import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CommandProvider } from "../src/provider";
import { freePort, sshdMissing, ThrowawaySshd } from "./sshd";
import { MemorySink, secretOf, urnOf } from "./support";

// Real SSH: a throw-away sshd on 127.0.0.1 (see sshd.ts), driven through the provider's
// Check/Create/Update/Delete exactly as the engine calls them.
describe("command provider: remote.Command over real SSH", function () {
    this.timeout(60_000);
    const cmdUrn = urnOf("command:remote:Command", "remote");
    let sshd: ThrowawaySshd | undefined;
    let strictSshd: ThrowawaySshd | undefined;
    let work: string;
    let sink: MemorySink;
    let provider: CommandProvider;
    let savedAgent: string | undefined;

    before(async function () {
        const missing = sshdMissing();
        if (missing) {
            console.log(`      skipping the SSH tests: ${missing}`);
            this.skip();
        }
        // An agent in the developer's environment would be tried as an extra auth method.
        savedAgent = process.env.SSH_AUTH_SOCK;
        delete process.env.SSH_AUTH_SOCK;
        work = fs.mkdtempSync(path.join(os.tmpdir(), "hh-remote-"));
        sshd = await ThrowawaySshd.start({ acceptEnv: ["HH_*", "PULUMI_COMMAND_*"] });
        // A server that accepts no variables at all, like a stock sshd for custom names.
        strictSshd = await ThrowawaySshd.start();
    });

    after(async () => {
        await sshd?.stop();
        await strictSshd?.stop();
        if (work) fs.rmSync(work, { recursive: true, force: true });
        if (savedAgent !== undefined) process.env.SSH_AUTH_SOCK = savedAgent;
    });

    beforeEach(() => {
        sink = new MemorySink();
        provider = new CommandProvider(sink);
    });

    async function checked(urn: string, news: Record<string, unknown>) {
        const r = await provider.check(urn, {}, news);
        assert.deepEqual(r.failures, []);
        return r.inputs as Record<string, unknown>;
    }

    function conn(extra: Record<string, unknown> = {}, server = sshd!) {
        return secretOf(server.connection(extra));
    }

    describe("remote.Command", () => {
        it("create runs the command on the host, with stdin, and keeps the connection secret in the outputs", async () => {
            const inputs = await checked(cmdUrn, { connection: conn({ hostKey: sshd!.hostKey }), create: "echo hi; id -un; cat; echo oops >&2", stdin: "piped\n" });
            const r = await provider.create(cmdUrn, inputs);
            assert.match(r.id, /^remote[0-9a-f]{8}$/);
            assert.equal(r.outs.stdout, `hi\n${sshd!.user}\npiped`);
            assert.equal(r.outs.stderr, "oops");
            assert.deepEqual(r.outs.connection, inputs.connection);
            assert.ok(JSON.stringify(r.outs.connection).includes("1b47061264138c4ac30d75fd1eb44270"), "connection stays secret");
            assert.ok(sink.statusLines().includes("piped"));
        });

        it("passes environment variables the server accepts", async () => {
            const inputs = await checked(cmdUrn, { connection: conn(), create: 'echo "$HH_COLOUR"', environment: { HH_COLOUR: "blue" } });
            assert.equal((await provider.create(cmdUrn, inputs)).outs.stdout, "blue");
        });

        it("fails, without running the command, when the server refuses an environment variable", async () => {
            const marker = path.join(work, "must-not-exist");
            const inputs = await checked(cmdUrn, { connection: conn(), create: `touch '${marker}'`, environment: { NOT_ACCEPTED: "x" } });
            await assert.rejects(provider.create(cmdUrn, inputs), /could not set environment variable "NOT_ACCEPTED": ssh: setenv failed/);
            assert.equal(fs.existsSync(marker), false);
            const errors = sink.messages.filter((m) => m.severity === "error");
            assert.equal(errors.length, 1);
            assert.match(errors[0].message, /Unable to set 'NOT_ACCEPTED'.*AcceptEnv/s);
        });

        it("update runs `update` and sees the previous output in PULUMI_COMMAND_STDOUT", async () => {
            const first = await provider.create(cmdUrn, await checked(cmdUrn, { connection: conn(), create: "echo v1" }));
            const news = await checked(cmdUrn, { connection: conn(), create: "echo v1", update: 'echo "after $PULUMI_COMMAND_STDOUT"' });
            const u = await provider.update(first.id, cmdUrn, first.outs, news);
            assert.equal(u.outs.stdout, "after v1");
        });

        it("only warns when the server refuses PULUMI_COMMAND_STDOUT, and still runs", async () => {
            const c = conn({}, strictSshd!);
            const first = await provider.create(cmdUrn, await checked(cmdUrn, { connection: c, create: "echo v1" }));
            const u = await provider.update(first.id, cmdUrn, first.outs, await checked(cmdUrn, { connection: c, create: 'echo "prev=${PULUMI_COMMAND_STDOUT:-unset}"' }));
            assert.equal(u.outs.stdout, "prev=unset");
            const warnings = sink.messages.filter((m) => m.severity === "warning").map((m) => m.message);
            assert.equal(warnings.length, 1);
            assert.match(warnings[0], /Unable to set 'PULUMI_COMMAND_STDOUT'/);
        });

        it("delete runs `delete`", async () => {
            const marker = path.join(work, "deleted-remotely");
            const first = await provider.create(cmdUrn, await checked(cmdUrn, { connection: conn(), create: "true", delete: `echo gone > '${marker}'` }));
            await provider.delete(first.id, cmdUrn, first.outs);
            assert.equal(fs.readFileSync(marker, "utf8"), "gone\n");
        });

        it("reports a failing command with its exit status and output, but no connection secrets", async () => {
            const inputs = await checked(cmdUrn, {
                connection: conn({ password: "pw-hunter2-never-shown" }),
                create: "echo partial; echo broken >&2; exit 4",
            });
            await assert.rejects(provider.create(cmdUrn, inputs), (err: Error) => {
                assert.match(err.message, /^Process exited with status 4: running "echo partial; echo broken >&2; exit 4":\n/);
                assert.match(err.message, /partial/);
                assert.match(err.message, /broken/);
                assert.doesNotMatch(err.message, /hunter2|PRIVATE KEY/);
                return true;
            });
            assert.doesNotMatch(sink.all(), /hunter2|PRIVATE KEY/);
        });

        it("reports an authentication failure without the password or key", async () => {
            const inputs = await checked(cmdUrn, {
                connection: conn({ privateKey: sshd!.strangerKey, password: "pw-hunter2-never-shown", dialErrorLimit: 0 }),
                create: "true",
            });
            await assert.rejects(provider.create(cmdUrn, inputs), (err: Error) => {
                assert.match(err.message, /after 0 failed attempts: ssh: handshake failed: ssh: unable to authenticate/);
                assert.doesNotMatch(err.message, /hunter2|PRIVATE KEY|AAAA/);
                return true;
            });
            assert.doesNotMatch(sink.all(), /hunter2|PRIVATE KEY/);
        });

        it("rejects a server whose host key is not the pinned one", async () => {
            const inputs = await checked(cmdUrn, { connection: conn({ hostKey: strictSshd!.hostKey, dialErrorLimit: 0 }), create: "true" });
            await assert.rejects(provider.create(cmdUrn, inputs), /ssh: host key mismatch/);
        });

        it("uses an encrypted private key with privateKeyPassword", async () => {
            const inputs = await checked(cmdUrn, {
                connection: conn({ privateKey: sshd!.encryptedClientKey, privateKeyPassword: sshd!.encryptedKeyPassphrase }),
                create: "echo unlocked",
            });
            assert.equal((await provider.create(cmdUrn, inputs)).outs.stdout, "unlocked");
        });

        it("fails at once, without retrying, for an encrypted key without its password", async () => {
            const inputs = await checked(cmdUrn, { connection: conn({ privateKey: sshd!.encryptedClientKey }), create: "true" });
            await assert.rejects(provider.create(cmdUrn, inputs), /cannot use privateKey/);
            assert.deepEqual(sink.statusLines(), []);
        });

        it("connects through a proxy (bastion) host", async () => {
            const inputs = await checked(cmdUrn, { connection: conn({ proxy: sshd!.connection() }), create: "echo via-bastion" });
            assert.equal((await provider.create(cmdUrn, inputs)).outs.stdout, "via-bastion");
        });

        it("retries dialing a closed port up to dialErrorLimit, then fails clearly", async () => {
            const closed = await freePort();
            const inputs = await checked(cmdUrn, { connection: conn({ port: closed, dialErrorLimit: 3, perDialTimeout: 2 }), create: "true" });
            const started = Date.now();
            await assert.rejects(provider.create(cmdUrn, inputs), (err: Error) => {
                assert.equal(err.message, `after 3 failed attempts: dial tcp 127.0.0.1:${closed}: connect: connection refused`);
                return true;
            });
            // Delays 100 + 150 + 225 ms between the four attempts.
            assert.ok(Date.now() - started >= 450, "waits between attempts");
            assert.deepEqual(sink.statusLines(), ["Dial 1/3 failed: retrying", "Dial 2/3 failed: retrying", "Dial 3/3 failed: retrying"]);
            assert.ok(sink.messages.every((m) => m.urn === cmdUrn));
        });

        it("reports a proxy that cannot be reached with a proxy: prefix", async () => {
            const closed = await freePort();
            const inputs = await checked(cmdUrn, { connection: conn({ proxy: { ...sshd!.connection(), port: closed, dialErrorLimit: 0 } }), create: "true" });
            await assert.rejects(provider.create(cmdUrn, inputs), /proxy: after 0 failed attempts: dial tcp 127\.0\.0\.1:\d+: connect: connection refused/);
        });
    });
});
