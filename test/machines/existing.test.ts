import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { isSecret, promiseOf, settle } from "../support/mocks";
import { installMachineMocks, settleRegistrations } from "./support";
import { captureWarnings } from "../support/warnings";

// Bring-your-own machines: checks and the connection, no resources, no cloud calls.
describe("existing machines (mocks)", function () {
    const mocks = installMachineMocks();
    let mod: typeof import("../../components/machines/existing");
    let types: typeof import("../../components/machines/types");
    let command: typeof import("@pulumi/command");
    let connectionMod: typeof import("../../components/host/connection");
    const privateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END OPENSSH PRIVATE KEY-----\n";
    const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0dGVzdGtleXRlc3RrZXl0ZXN0a2V5dGVzdGtleXQ root@node-1";
    const base = { kind: "existing" as const, address: "node-1.example.net", privateKey, hostKey };

    const log = captureWarnings();
    before(async function () {
        mod = await import("../../components/machines/existing");
        types = await import("../../components/machines/types");
        command = await import("@pulumi/command");
        connectionMod = await import("../../components/host/connection");
    });
    beforeEach(function () {
        mocks.resources.length = 0;
        mocks.calls.length = 0;
        mocks.invokes.clear();
    });

    const resolved = (i: pulumi.Input<unknown> | undefined) => promiseOf(pulumi.output(i));

    it("fills the defaults (port 22, root) and keeps the private key secret, without resources or cloud calls", async function () {
        const c = mod.existingMachineConnection("node-1", base);
        assert.equal(await resolved(c.host), "node-1.example.net");
        assert.equal(await resolved(c.port), 22);
        assert.equal(await resolved(c.user), "root");
        assert.equal(await resolved(c.hostKey), hostKey);
        assert.equal(await resolved(c.privateKey), privateKey);
        assert.equal(await pulumi.isSecret(pulumi.output(c.privateKey!)), true);
        assert.equal(await pulumi.isSecret(pulumi.output(c.host)), false);
        assert.equal(c.password, undefined);
        assert.equal(c.proxy, undefined);
        assert.equal(c.sudo, undefined, "sudo follows the user (HostConnection's default)");
        assert.deepEqual(log.warnings, []);
        await settleRegistrations();
        assert.deepEqual(mocks.resources, []);
        assert.deepEqual(mocks.calls, []);
    });

    it("passes port, user, sudo and a password through", async function () {
        const c = mod.existingMachineConnection("node-2", {
            kind: "existing", address: "2001:db8::7", port: 2222, user: "deploy", password: "pw", hostKey, sudo: true,
        });
        assert.deepEqual(
            await Promise.all([c.host, c.port, c.user, c.password, c.sudo].map(resolved)),
            ["2001:db8::7", 2222, "deploy", "pw", true],
        );
        assert.equal(await pulumi.isSecret(pulumi.output(c.password!)), true);
        assert.equal(c.privateKey, undefined);
    });

    it("warns that the first connection trusts any host key when hostKey is absent", async function () {
        mod.existingMachineConnection("node-3", { kind: "existing", address: "192.0.2.3", privateKey });
        assert.equal(log.warnings.length, 1);
        assert.match(log.warnings[0]!, /machine "node-3": no hostKey given: the first connection trusts whatever host key/);
    });

    it("warns as well when hostKey arrives as an Output that resolves to nothing", async function () {
        const c = mod.existingMachineConnection("node-3b", { kind: "existing", address: "192.0.2.3", privateKey, hostKey: pulumi.output<string | undefined>(undefined) as pulumi.Output<string> });
        assert.deepEqual(log.warnings, []);
        assert.equal(await resolved(c.hostKey), undefined);
        assert.equal(log.warnings.length, 1);
        assert.match(log.warnings[0]!, /no hostKey given/);
    });

    it("reaches the Command provider through the one code path (commandConnection), key secret", async function () {
        const c = mod.existingMachineConnection("node-4", { ...base, user: "admin", port: 2200 });
        const cmd = new command.remote.Command("node-4-probe", { connection: connectionMod.commandConnection(c), create: "true" });
        await promiseOf(cmd.urn);
        const sent = mocks.resources.find((r) => r.name === "node-4-probe");
        assert.ok(sent);
        // The Command SDK marks the whole connection secret; the key is secret on its own as well.
        assert.ok(isSecret(sent.inputs.connection));
        const conn = sent.inputs.connection.value;
        const key = isSecret(conn.privateKey) ? conn.privateKey.value : conn.privateKey;
        assert.deepEqual([conn.host, conn.port, conn.user, conn.hostKey, key], ["node-1.example.net", 2200, "admin", hostKey, privateKey]);
        assert.equal(await promiseOf(connectionMod.needsSudo(c)), true);
    });



    it("carries a bastion to the Command provider, its key secret", async function () {
        {
            const c = mod.existingMachineConnection("node-5b", { ...base, address: "10.0.3.5", proxy: { host: "bastion.example.net", user: "jump", privateKey, hostKey } });
            assert.ok(c.proxy);
            assert.equal(await pulumi.isSecret(pulumi.output(c.proxy).apply((p) => p.privateKey)), true);
            assert.deepEqual(log.warnings, []);
            const cmd = new command.remote.Command("node-5b-probe", { connection: connectionMod.commandConnection(c), create: "true" });
            await promiseOf(cmd.urn);
            const sent = mocks.resources.find((r) => r.name === "node-5b-probe")!.inputs.connection.value;
            const proxy = isSecret(sent.proxy) ? sent.proxy.value : sent.proxy;
            assert.deepEqual([proxy.host, proxy.port, proxy.user, proxy.hostKey, proxy.privateKey], ["bastion.example.net", 22, "jump", hostKey, privateKey]);
            assert.equal(sent.host, "10.0.3.5");
        }
    });

    it("warns about a bastion without hostKey too, and checks the bastion's fields", async function () {
        {
            mod.existingMachineConnection("node-5c", { ...base, proxy: { host: "bastion", privateKey } });
            assert.equal(log.warnings.length, 1);
            assert.match(log.warnings[0]!, /machine "node-5c": no proxy\.hostKey given/);
            assert.throws(() => mod.existingMachineConnection("node-5d", { ...base, proxy: { host: "jump|sh", privateKey } }), /machine "node-5d": proxy\.host: "jump\|sh" is not a host name/);
            assert.throws(() => mod.existingMachineConnection("node-5e", { ...base, proxy: { host: "jump", port: 0, privateKey } }), /proxy\.port: 0 is not an integer/);
            assert.throws(() => mod.existingMachineConnection("node-5f", { ...base, proxy: { host: "jump", user: "Root!", privateKey } }), /proxy\.user: "Root!" is not a valid login name/);
        }
    });

    it("machineConnection gives an existing host's connection and nothing to wait for", async function () {
        const m = types.machineConnection("node-6", { ...base, address: "198.51.100.6" });
        assert.equal(m.kind, "existing");
        assert.deepEqual(m.dependsOn, []);
        assert.equal(m.resource, undefined);
        assert.equal(await resolved(m.connection.host), "198.51.100.6");
        await settleRegistrations();
        assert.deepEqual(mocks.resources, []);
        assert.deepEqual(mocks.calls, []);
    });

    const invalid: [string, object, RegExp][] = [
        ["an empty address", { address: "" }, /address: must be a non-empty host name or IP address/],
        ["an address with shell characters", { address: "10.0.0.1;reboot" }, /address: "10\.0\.0\.1;reboot" is not a host name or IP address/],
        ["an address with a space", { address: "node 1" }, /address: "node 1" is not a host name/],
        ["an address that is an ssh option", { address: "-oProxyCommand=sh" }, /address: "-oProxyCommand=sh" is not a host name/],
        ["an address with a port", { address: "10.0.0.1:22" }, /address: "10\.0\.0\.1:22" is not a host name/],
        ["port 0", { port: 0 }, /port: 0 is not an integer from 1 to 65535/],
        ["port 70000", { port: 70000 }, /port: 70000 is not an integer from 1 to 65535/],
        ["a fractional port", { port: 22.5 }, /port: 22\.5 is not an integer/],
        ["a bad user name", { user: "Bad;rm" }, /user: "Bad;rm" is not a valid login name/],
        ["neither key nor password", { privateKey: undefined }, /privateKey: is required \(or a password\)/],
        ["a public key as private key", { privateKey: hostKey }, /privateKey: is a public key/],
        ["an empty password", { privateKey: undefined, password: "" }, /password: must be a non-empty string/],
        ["a known_hosts line as host key", { hostKey: `node-1 ${hostKey}` }, /hostKey: "node-1 ssh-ed25519 .*" is not a host public key/],
        // The real provider would offer only SHA-1 "ssh-rsa" signatures, which OpenSSH 8.8+ refuses.
        ["an RSA host key", { hostKey: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 host" }, /hostKey: is an ssh-rsa key: .*OpenSSH 8\.8\+ refuses; pin the host's ed25519 or ECDSA key/],
        ["a bad bastion address", { proxy: { host: "jump|sh", privateKey } }, /proxy\.host: "jump\|sh" is not a host name|proxy: bastions are not supported yet/],
        ["a bastion without credentials", { proxy: { host: "jump" } }, /proxy\.privateKey: is required \(or proxy\.password\)/],
    ];
    for (const [what, override, message] of invalid) {
        it(`refuses ${what}, naming the field, at once`, async function () {
            assert.throws(() => mod.existingMachineConnection(`bad`, { ...base, ...override } as any), (e: Error) => {
                assert.equal(e.constructor.name, "ResourceError");
                assert.match(e.message, /^machine "bad": /);
                assert.match(e.message, message);
                assert.ok(!e.message.includes("c2VjcmV0LWtleS1tYXRlcmlhbA"), "the private key is never quoted");
                return true;
            });
            await settleRegistrations();
            assert.deepEqual(mocks.resources, []);
        });
    }

    const late: [string, object, (c: import("../../components/machines/existing").ExistingConnection) => pulumi.Input<unknown>, RegExp][] = [
        ["an address", { address: pulumi.output("a b") }, (c) => c.host, /address: "a b" is not a host name/],
        ["a port", { port: pulumi.output(0) }, (c) => c.port, /port: 0 is not an integer/],
        ["a secret private key that is a public key", { privateKey: pulumi.secret(hostKey) }, (c) => c.privateKey, /privateKey: is a public key/],
    ];
    for (const [what, override, pick, message] of late) {
        it(`refuses ${what} arriving as an Output, naming the field`, async function () {
            const c = mod.existingMachineConnection("late", { ...base, ...override } as any);
            const { error } = await settle(pulumi.output(pick(c)));
            assert.match(String(error), message);
        });
    }
});
