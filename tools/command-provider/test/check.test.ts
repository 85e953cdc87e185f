import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { LineSplitter } from "../src/log";
import { commandEnv } from "../src/local";
import { engineAddress } from "../src/main";
import { CommandProvider, parseUrn } from "../src/provider";
import { envRequests } from "../src/remote";
import { checkInputs, LOCAL_COMMAND, REMOTE_COMMAND } from "../src/schema";
import { isSecret, UNKNOWN, unwrap } from "../src/wire";
import { MemorySink, secretOf, urnOf } from "./support";

describe("command provider: check, defaults and helpers", () => {
    describe("checkInputs", () => {
        it("fills in the connection defaults of the 1.2.1 schema and marks the connection secret", () => {
            const { inputs, failures } = checkInputs(REMOTE_COMMAND.inputs, { connection: { host: "h" } }, REMOTE_COMMAND.secretInputs);
            assert.deepEqual(failures, []);
            assert.equal(isSecret(inputs.connection), true);
            assert.deepEqual(unwrap(inputs.connection), { host: "h", user: "root", port: 22, dialErrorLimit: 10, perDialTimeout: 15 });
        });

        it("fills in proxy defaults and keeps user values and secret members", () => {
            const { inputs } = checkInputs(
                REMOTE_COMMAND.inputs,
                { connection: secretOf({ host: "h", port: 2222, password: secretOf("pw"), proxy: { host: "bastion", user: "jump" } }) },
                REMOTE_COMMAND.secretInputs,
            );
            const conn = unwrap(inputs.connection) as Record<string, unknown>;
            assert.equal(conn.port, 2222);
            assert.deepEqual(conn.password, secretOf("pw"));
            assert.deepEqual(conn.proxy, { host: "bastion", user: "jump", port: 22, dialErrorLimit: 10, perDialTimeout: 15 });
        });

        it("reports missing required properties and wrong types", () => {
            const r = checkInputs(REMOTE_COMMAND.inputs, { create: 5, logging: "loud", connection: { port: "22" } });
            const props = r.failures.map((f) => f.property).sort();
            assert.deepEqual(props, ["connection.host", "connection.port", "create", "logging"]);
            const missing = checkInputs(REMOTE_COMMAND.inputs, {});
            assert.deepEqual(missing.failures, [{ property: "connection", reason: "missing required property 'connection'" }]);
        });

        it("rejects properties that are not in the schema instead of dropping them", () => {
            const r = checkInputs(LOCAL_COMMAND.inputs, { create: "x", interpreterr: ["bash"] });
            assert.deepEqual(r.failures, [{ property: "interpreterr", reason: "unknown property 'interpreterr'" }]);
        });

        it("lets unknown values through during preview", () => {
            const r = checkInputs(REMOTE_COMMAND.inputs, { create: UNKNOWN, connection: { host: UNKNOWN } }, REMOTE_COMMAND.secretInputs);
            assert.deepEqual(r.failures, []);
            assert.equal(r.inputs.create, UNKNOWN);
            const whole = checkInputs(REMOTE_COMMAND.inputs, { connection: UNKNOWN }, REMOTE_COMMAND.secretInputs);
            assert.equal(whole.inputs.connection, UNKNOWN);
        });

        it("refuses local.Command's assetPaths/archivePaths (in the 1.2.1 schema, not implemented here)", () => {
            const r = checkInputs(LOCAL_COMMAND.inputs, { create: "x", assetPaths: ["out/**"], archivePaths: UNKNOWN });
            assert.deepEqual(r.failures.map((f) => f.property), ["assetPaths", "archivePaths"]);
            assert.match(r.failures[0].reason, /not implemented by this pulumi-resource-command/);
        });
    });

    describe("dispatch", () => {
        it("fails clearly for resource types and functions it does not implement", async () => {
            const p = new CommandProvider(new MemorySink());
            await assert.rejects(p.check(urnOf("command:remote:Nope", "x"), {}, {}), /resource type "command:remote:Nope" is not implemented/);
            await assert.rejects(p.create(urnOf("aws:s3:Bucket", "x"), {}), /resource type "aws:s3:Bucket" is not implemented/);
            await assert.rejects(p.invoke("command:local:nope", {}), /function "command:local:nope" is not implemented/);
        });

        it("fails clearly for the 1.2.1 resources and function the project does not use", async () => {
            const p = new CommandProvider(new MemorySink());
            for (const token of ["command:remote:CopyToRemote", "command:remote:CopyFile"]) {
                const pattern = new RegExp(`resource type "${token}" is not implemented .*command:remote:Command and command:local:Command`);
                await assert.rejects(p.check(urnOf(token, "x"), {}, {}), pattern);
                await assert.rejects(p.create(urnOf(token, "x"), {}), pattern);
                await assert.rejects(p.diff("id", urnOf(token, "x"), {}, {}), pattern);
                await assert.rejects(p.update("id", urnOf(token, "x"), {}, {}), pattern);
                await assert.rejects(p.delete("id", urnOf(token, "x"), {}), pattern);
            }
            await assert.rejects(p.invoke("command:local:run", { command: "true" }), /function "command:local:run" is not implemented/);
        });

        it("parses URNs, including parent-qualified types", () => {
            assert.deepEqual(parseUrn("urn:pulumi:dev::proj::command:local:Command::probe"), { type: "command:local:Command", name: "probe" });
            assert.deepEqual(parseUrn("urn:pulumi:dev::proj::my:Comp$command:remote:Command::a::b"), {
                type: "command:remote:Command",
                name: "a::b",
            });
        });

        it("reports version 1.2.1, the version the SDK asks the engine for", () => {
            assert.equal(new CommandProvider(new MemorySink()).version, "1.2.1");
            const sdk = JSON.parse(fs.readFileSync(require.resolve("@pulumi/command/package.json"), "utf8"));
            assert.equal(sdk.pulumi.version, "1.2.1");
        });

        it("finds the engine address among the plugin's arguments", () => {
            assert.equal(engineAddress(["127.0.0.1:1234"]), "127.0.0.1:1234");
            assert.equal(engineAddress(["--logtostderr", "-v=9", "--tracing", "x:1", "127.0.0.1:5"]), "127.0.0.1:5");
            assert.equal(engineAddress([]), undefined);
        });
    });

    describe("environment of a run", () => {
        it("local: provider env + environment + previous output (only when non-empty)", () => {
            const env = commandEnv({ environment: { A: "1" } }, { stdout: "out", stderr: "" }, { PATH: "/bin" });
            assert.deepEqual(env, { PATH: "/bin", A: "1", PULUMI_COMMAND_STDOUT: "out" });
            const off = commandEnv({ addPreviousOutputInEnv: false }, { stdout: "out", stderr: "err" }, {});
            assert.deepEqual(off, {});
        });

        it("remote: environment is required, previous output is best effort", () => {
            assert.deepEqual(envRequests({ connection: {}, environment: { A: "1" } }, { stdout: "o", stderr: "e" }), [
                { key: "A", value: "1", required: true },
                { key: "PULUMI_COMMAND_STDOUT", value: "o", required: false },
                { key: "PULUMI_COMMAND_STDERR", value: "e", required: false },
            ]);
            assert.deepEqual(envRequests({ connection: {}, addPreviousOutputInEnv: false }, { stdout: "o" }), []);
        });
    });

    describe("line splitting of logged output", () => {
        it("splits on \\n, drops a trailing \\r, and flushes the last partial line", () => {
            const lines: string[] = [];
            const s = new LineSplitter((l) => lines.push(l));
            s.write("a\r\nb");
            s.write("c\n\nd");
            s.end();
            assert.deepEqual(lines, ["a", "bc", "", "d"]);
        });
    });
});
