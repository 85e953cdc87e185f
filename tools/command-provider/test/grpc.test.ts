import * as assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as emptyproto from "google-protobuf/google/protobuf/empty_pb";
import * as structproto from "google-protobuf/google/protobuf/struct_pb";
import * as engrpc from "@pulumi/pulumi/proto/engine_grpc_pb";
import type * as engproto from "@pulumi/pulumi/proto/engine_pb";
import type * as plugproto from "@pulumi/pulumi/proto/plugin_pb";
import * as provrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import { secretOf, urnOf } from "./support";

/** The package root (this file lives in test/). */
const packageRoot = path.resolve(__dirname, "..");

function call<Res>(f: (cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
    return new Promise((resolve, reject) => f((err, res) => (err ? reject(err) : resolve(res))));
}

// The plugin as the engine sees it: a separate process speaking the provider gRPC protocol,
// sending its logs to the engine address it was given (here: a fake Engine service).
describe("command provider: the plugin process over gRPC", function () {
    this.timeout(60_000);
    let plugin: ChildProcess | undefined;
    let client: provrpc.ResourceProviderClient;
    let engine: grpc.Server;
    const logs: { message: string; urn: string; ephemeral: boolean; severity: number }[] = [];

    before(async () => {
        engine = new grpc.Server();
        engine.addService(engrpc.EngineService, {
            log: (c: grpc.ServerUnaryCall<engproto.LogRequest, emptyproto.Empty>, cb: grpc.sendUnaryData<emptyproto.Empty>) => {
                const r = c.request;
                logs.push({ message: r.getMessage(), urn: r.getUrn(), ephemeral: r.getEphemeral(), severity: r.getSeverity() });
                cb(null, new emptyproto.Empty());
            },
        } as unknown as grpc.UntypedServiceImplementation);
        const enginePort = await new Promise<number>((resolve, reject) =>
            engine.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
        );

        plugin = spawn(
            process.execPath,
            ["-r", "ts-node/register/transpile-only", path.join(packageRoot, "src/main.ts"), `127.0.0.1:${enginePort}`],
            { cwd: packageRoot, stdio: ["ignore", "pipe", "inherit"] },
        );
        // The provider announces its port on the first line of stdout, like every plugin.
        const port = await new Promise<string>((resolve, reject) => {
            let out = "";
            plugin!.stdout!.on("data", (d: Buffer) => {
                out += d.toString();
                const line = out.split("\n")[0];
                if (out.includes("\n")) resolve(line.trim());
            });
            plugin!.once("exit", (code) => reject(new Error(`plugin exited with ${code} before announcing its port`)));
        });
        client = new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    });

    after(async () => {
        client?.close();
        if (plugin && plugin.exitCode === null) {
            const exited = new Promise((r) => plugin!.once("exit", r));
            plugin.kill("SIGTERM");
            await exited;
        }
        engine?.forceShutdown();
    });

    it("reports version 1.2.1 in GetPluginInfo", async () => {
        const info = await call<plugproto.PluginInfo>((cb) => client.getPluginInfo(new emptyproto.Empty(), cb));
        assert.equal(info.getVersion(), "1.2.1");
    });

    it("accepts secrets in Configure", async () => {
        const res = await call<provproto.ConfigureResponse>((cb) => client.configure(new provproto.ConfigureRequest(), cb));
        assert.equal(res.getAcceptsecrets(), true);
    });

    it("checks and creates a local command, keeps secrets wrapped, and logs its output to the engine", async () => {
        const urn = urnOf("command:local:Command", "viaGrpc");
        const check = new provproto.CheckRequest();
        check.setUrn(urn);
        check.setOlds(structproto.Struct.fromJavaScript({}));
        check.setNews(structproto.Struct.fromJavaScript({ create: "echo line-1; echo line-2", environment: secretOf({ TOKEN: "t" }) as never }));
        const checked = await call<provproto.CheckResponse>((cb) => client.check(check, cb));
        assert.deepEqual(checked.getFailuresList(), []);

        const create = new provproto.CreateRequest();
        create.setUrn(urn);
        create.setProperties(checked.getInputs());
        const created = await call<provproto.CreateResponse>((cb) => client.create(create, cb));
        assert.match(created.getId(), /^viaGrpc[0-9a-f]{8}$/);
        const outs = created.getProperties()!.toJavaScript();
        assert.equal(outs.stdout, "line-1\nline-2");
        assert.deepEqual(outs.environment, secretOf({ TOKEN: "t" }));

        const lines = logs.filter((l) => l.urn === urn);
        assert.deepEqual(lines.map((l) => l.message), ["line-1", "line-2"]);
        assert.ok(lines.every((l) => l.ephemeral));
    });

    it("fails Create with the command's error message", async () => {
        const create = new provproto.CreateRequest();
        create.setUrn(urnOf("command:local:Command", "failing"));
        create.setProperties(structproto.Struct.fromJavaScript({ create: "echo nope >&2; exit 2" }));
        await assert.rejects(call<provproto.CreateResponse>((cb) => client.create(create, cb)), (err: grpc.ServiceError) => {
            assert.match(err.details, /exit status 2: running "echo nope >&2; exit 2":\nnope/);
            return true;
        });
    });

    it("fails Check of a resource it does not implement, naming the token", async () => {
        const check = new provproto.CheckRequest();
        check.setUrn(urnOf("command:remote:CopyToRemote", "unused"));
        check.setOlds(structproto.Struct.fromJavaScript({}));
        check.setNews(structproto.Struct.fromJavaScript({ remotePath: "/tmp/x" }));
        await assert.rejects(call<provproto.CheckResponse>((cb) => client.check(check, cb)), (err: grpc.ServiceError) => {
            assert.match(err.details, /resource type "command:remote:CopyToRemote" is not implemented by this pulumi-resource-command/);
            return true;
        });
    });

    it("answers Diff with replaces for triggers", async () => {
        const diff = new provproto.DiffRequest();
        diff.setId("x");
        diff.setUrn(urnOf("command:local:Command", "d"));
        diff.setOlds(structproto.Struct.fromJavaScript({ create: "a", triggers: [1], stdout: "" }));
        diff.setNews(structproto.Struct.fromJavaScript({ create: "a", triggers: [2] }));
        const res = await call<provproto.DiffResponse>((cb) => client.diff(diff, cb));
        assert.equal(res.getChanges(), provproto.DiffResponse.DiffChanges.DIFF_SOME);
        assert.deepEqual(res.getReplacesList(), ["triggers"]);
    });
});
