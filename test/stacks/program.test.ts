import * as assert from "node:assert/strict";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { installMachineMocks, settleRegistrations } from "../machines/support";
import { isSecret, promiseOf, settle } from "../support/mocks";
import { captureWarnings } from "../support/warnings";

// The stack program (stacks/index.ts) itself, run against Pulumi mocks with stack config set:
// what each `hardened-hosts:machines` kind registers, and that config mistakes stop it before
// anything is registered or any cloud API is called.
describe("stack program (mocks)", function () {
    const mocks = installMachineMocks();
    const NS = "hardened-hosts";
    const publicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0dGVzdGtleXRlc3RrZXl0ZXN0a2V5dGVzdGtleXQ ops@example";
    const awsKeyBody = "YXdzLXN0YWNrLXRlc3Qta2V5LW5vdC1yZWFs";
    const privateKey = `-----BEGIN OPENSSH PRIVATE KEY-----\n${awsKeyBody}\n-----END OPENSSH PRIVATE KEY-----\n`;
    const labKeyBody = "bGFiLWZpeHR1cmUtbm90LWEtcmVhbC1rZXk"; // test/stacks/fixtures/lab/id_lab
    const labInventory = path.join(__dirname, "fixtures", "lab", "inventory.json");

    type StackModule = typeof import("../../stacks/index");
    /** Runs the stack program once with this config (plain values as Pulumi passes them: JSON or text). */
    function run(values: Record<string, unknown>, secrets: Record<string, string> = {}): StackModule {
        const all: Record<string, string> = {};
        for (const [k, v] of Object.entries(values)) all[`${NS}:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
        for (const [k, v] of Object.entries(secrets)) all[`${NS}:${k}`] = v;
        pulumi.runtime.setAllConfig(all, Object.keys(secrets).map((k) => `${NS}:${k}`));
        const id = require.resolve("../../stacks/index");
        delete require.cache[id];
        return require(id) as StackModule;
    }

    const log = captureWarnings();
    beforeEach(function () {
        mocks.resources.length = 0;
        mocks.calls.length = 0;
        mocks.failures.clear();
        mocks.dependencies.clear();
        mocks.urns.clear();
        mocks.invokes.clear();
        mocks.invokes.set("aws:ec2/getAmi:getAmi", { id: "ami-0123456789abcdef0", name: "debian-12-amd64-20250101-1", architecture: "x86_64" });
        mocks.invokes.set("aws:ec2/getVpc:getVpc", { id: "vpc-0def", default: true, cidrBlock: "172.31.0.0/16" });
        mocks.invokes.set("aws:ec2/getSubnets:getSubnets", { id: "eu-west-1", ids: ["subnet-0b", "subnet-0a"] });
        mocks.invokes.set("aws:ec2/getSubnet:getSubnet", { id: "subnet-0feed", vpcId: "vpc-0custom" });
        mocks.instance = { publicIp: "203.0.113.10", privateIp: "172.31.5.10" };
    });
    after(function () {
        pulumi.runtime.setAllConfig({});
    });

    const of = (type: string, name: string) => {
        const r = mocks.resources.find((x) => x.type === type && x.name === name);
        assert.ok(r, `${type} ${name} in ${mocks.resources.map((x) => `${x.type} ${x.name}`).join(", ")}`);
        return r;
    };
    /** A host step (issue #29: a HostWork; EC2's SSH wait is the one remote.Command). */
    const command = (name: string) => of(name.endsWith("-ssh-ready") ? "command:remote:Command" : "pulumi-nodejs:dynamic/host:HostWork", name);
    const invokesOf = (token: string) => mocks.calls.filter((c) => c.token === token);
    /** Every string sent to a provider outside a secret. */
    function plainStrings(v: unknown, out: string[] = []): string[] {
        if (isSecret(v)) return out;
        if (typeof v === "string") out.push(v);
        else if (v !== null && typeof v === "object") for (const x of Object.values(v)) plainStrings(x, out);
        return out;
    }

    describe("machines = aws", function () {
        const aws = { sshCidrs: ["198.51.100.0/24", "2001:db8:1234::/48"], publicKey, tags: { team: "ops" }, instanceType: "t3.medium" };
        const stack = (awsOver: Record<string, unknown> = {}, over: Record<string, unknown> = {}) => ({
            machines: "aws",
            tenants: { "tenant-a": {} },
            aws: { ...aws, ...awsOver },
            hosts: [{ name: "web-1", tenants: ["tenant-a"] }, { name: "web-2", runtime: { mode: "podman", user: "builder" } }],
            ...over,
        });
        async function ran(awsOver: Record<string, unknown> = {}, over: Record<string, unknown> = {}) {
            const mod = run(stack(awsOver, over), { sshPrivateKey: privateKey });
            const machines = await promiseOf(pulumi.output(mod.machines as pulumi.Input<Record<string, any>>));
            await promiseOf(pulumi.output(mod.allocationTable));
            await settleRegistrations(200);
            return { mod, machines };
        }

        it("creates one EC2 machine per host: IMDSv2 only, the config's instance type and tags, the newest official image", async function () {
            const { machines } = await ran();
            for (const host of ["web-1", "web-2"]) {
                const instance = of("aws:ec2/instance:Instance", `${host}-instance`);
                assert.deepEqual(instance.inputs.metadataOptions, { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 });
                assert.equal(instance.inputs.instanceType, "t3.medium");
                assert.equal(instance.inputs.ami, "ami-0123456789abcdef0");
                assert.equal(instance.inputs.subnetId, "subnet-0a", "the default VPC's first default-for-AZ subnet");
                assert.deepEqual(instance.inputs.rootBlockDevice, { encrypted: true, volumeType: "gp3", volumeSize: 16 });
                const tags = { Name: host, team: "ops", "hardened-hosts:managed": "true" };
                assert.deepEqual(instance.inputs.tags, tags);
                assert.deepEqual(of("aws:ec2/securityGroup:SecurityGroup", `${host}-ssh`).inputs.tags, tags);
                assert.deepEqual(of("aws:ec2/keyPair:KeyPair", `${host}-key`).inputs, { publicKey, tags });
            }
            const amis = invokesOf("aws:ec2/getAmi:getAmi");
            assert.equal(amis.length, 2);
            for (const ami of amis) {
                assert.deepEqual(ami.inputs.owners, ["136693071363"]);
                assert.deepEqual(ami.inputs.filters[0], { name: "name", values: ["debian-12-amd64-*"] });
                assert.equal(ami.inputs.mostRecent, true);
                assert.equal("region" in ami.inputs, false, "the region is the provider's config, not the stack's");
            }
            assert.equal(mocks.resources.filter((r) => r.type === "pulumi:providers:aws").length, 0, "the default AWS provider only (its region is the stack's aws:region)");
            assert.deepEqual(mocks.resources.filter((r) => r.type.startsWith("pulumi:providers:")).map((r) => `${r.type} ${r.name}`),
                [], "no explicit provider (host work is the dynamic provider's; EC2's SSH wait uses the default Command provider)");
            assert.deepEqual(machines["web-1"], {
                instanceId: "web-1-instance-id", publicIp: "203.0.113.10", privateIp: "172.31.5.10", amiId: "ami-0123456789abcdef0", loginUser: "admin",
            });
        });

        it("lets SSH in from sshCidrs only (IPv4 and IPv6 apart), nothing else inbound", async function () {
            await ran();
            for (const host of ["web-1", "web-2"]) {
                const sg = of("aws:ec2/securityGroup:SecurityGroup", `${host}-ssh`);
                assert.equal(sg.inputs.vpcId, "vpc-0def");
                assert.deepEqual(sg.inputs.ingress, [{
                    description: "SSH from sshCidrs", protocol: "tcp", fromPort: 22, toPort: 22,
                    cidrBlocks: ["198.51.100.0/24"], ipv6CidrBlocks: ["2001:db8:1234::/48"],
                }]);
            }
        });

        it("hardens each instance over SSH as the image's login user with sudo, after it is ready, in one fleet", async function () {
            const { mod } = await ran();
            for (const [host, runtime] of [["web-1", "web-1-docker-daemon"], ["web-2", "web-2-podman-runtime"]] as const) {
                const write = command(`${host}-subids-write`);
                assert.ok(isSecret(write.inputs.connection), "the connection (with the key) is secret");
                const c = write.inputs.connection.value;
                assert.deepEqual([c.host, c.port, c.user, c.privateKey], ["203.0.113.10", 22, "admin", privateKey]);
                assert.match(write.inputs.create, /^sudo -n bash -s -- apply /);
                // The first step (the support decision, #30) waits for the instance; the subids lines for it.
                assert.ok(mocks.dependencies.get(`${host}-support`)!.includes(mocks.urns.get(`${host}-ssh-ready`)!),
                    `${host}'s host work waits for its instance's ready command`);
                assert.ok(mocks.dependencies.get(`${host}-subids-write`)!.includes(mocks.urns.get(`${host}-support`)!));
                assert.match(command(runtime).inputs.create, /^sudo -n bash -s -- apply /);
                of("pulumi-nodejs:dynamic:Resource", `${host}-verify-check`);
            }
            assert.match(command("web-2-podman-runtime").inputs.create, /--mode podman --user builder /);
            // One fleet allocation: tenant-a only on web-1, each runtime owner on its host.
            const allocation = await promiseOf(pulumi.output(mod.allocation as pulumi.Input<Record<string, { start: number; count: number }>>));
            assert.deepEqual(Object.keys(allocation).sort(), ["builder", "dockremap", "tenant-a"]);
            const a = allocation["tenant-a"]!;
            assert.ok(command("web-1-subids-write").inputs.create.includes(`tenant-a:${a.start}:${a.count}`));
            assert.ok(!command("web-2-subids-write").inputs.create.includes("tenant-a:"));
            of("hardened-hosts:index:HardenedFleet", "fleet");
        });

        it("never sends the private key outside a secret", async function () {
            const { mod } = await ran();
            for (const r of mocks.resources) {
                assert.ok(!plainStrings(r.inputs).some((s) => s.includes(awsKeyBody)), `${r.type} ${r.name} has the key in plain text`);
            }
            const machines = await promiseOf(pulumi.output(mod.machines as pulumi.Input<unknown>));
            assert.ok(!JSON.stringify(machines).includes(awsKeyBody));
        });

        it("passes distro, subnet, root volume and public-IP settings through", async function () {
            mocks.instance = { publicIp: "", privateIp: "10.1.2.3" };
            const { machines } = await ran({ distro: "ubuntu-24.04", subnetId: "subnet-0feed", rootVolumeGiB: 40, associatePublicIp: false });
            const instance = of("aws:ec2/instance:Instance", "web-1-instance");
            assert.equal(instance.inputs.subnetId, "subnet-0feed");
            assert.equal(instance.inputs.associatePublicIpAddress, false);
            assert.equal(instance.inputs.rootBlockDevice.volumeSize, 40);
            assert.equal(of("aws:ec2/securityGroup:SecurityGroup", "web-1-ssh").inputs.vpcId, "vpc-0custom");
            assert.deepEqual(invokesOf("aws:ec2/getAmi:getAmi")[0]!.inputs.owners, ["099720109477"]);
            assert.equal(machines["web-1"].loginUser, "ubuntu");
            const c = command("web-1-subids-write").inputs.connection.value;
            assert.deepEqual([c.host, c.user], ["10.1.2.3", "ubuntu"]);
        });

        it("reads the private key from the config key aws.privateKeyConfig names", async function () {
            run(stack({ privateKeyConfig: "awsKey" }), { awsKey: privateKey });
            await settleRegistrations(300);
            assert.equal(command("web-1-ssh-ready").inputs.connection.value.privateKey, privateKey);
        });

        const refused: [string, Record<string, unknown>, Record<string, unknown>, RegExp][] = [
            ["SSH open to the IPv4 world", { sshCidrs: ["198.51.100.0/24", "0.0.0.0/0"] }, {}, /hardened-hosts:aws\.sshCidrs\[1\]: "0\.0\.0\.0\/0" would open SSH to the whole Internet/],
            ["SSH open to the IPv6 world", { sshCidrs: ["::/0"] }, {}, /hardened-hosts:aws\.sshCidrs\[0\]: "::\/0" would open SSH to the whole Internet/],
            ["a host with an address", {}, { hosts: [{ name: "web-1", address: "203.0.113.9" }] }, /hardened-hosts:hosts\[0\]\.address: is not set here: it comes from the EC2 instance/],
            ["an unknown distro", { distro: "gentoo" }, {}, /hardened-hosts:aws\.distro: "gentoo" is not one of/],
        ];
        for (const [what, awsOver, over, message] of refused) {
            it(`stops on ${what}, naming the key, before any resource or AWS call`, async function () {
                assert.throws(() => run(stack(awsOver, over), { sshPrivateKey: privateKey }), (e: Error) => {
                    assert.ok(e instanceof pulumi.RunError, String(e));
                    assert.match(e.message, message);
                    return true;
                });
                await settleRegistrations(100);
                assert.deepEqual(mocks.resources.map((r) => r.name), []);
                assert.deepEqual(mocks.calls.map((c) => c.token), []);
            });
        }
    });

    describe("machines = lab", function () {
        async function ran(values: Record<string, unknown>) {
            const mod = run({ machines: "lab", ...values });
            await promiseOf(pulumi.output(mod.allocationTable));
            await settleRegistrations(300);
            return mod;
        }

        it("hardens every inventory host with its profile's runtime; a non-root login user goes through sudo", async function () {
            await ran({ labInventory, tenants: { "tenant-a": {} } });
            const expected: [string, number, string, string, RegExp][] = [
                ["lab-1", 22201, "root", "lab-1-docker-daemon", /^bash -s -- apply --user dockremap /],
                ["lab-2", 22202, "root", "lab-2-docker-rootless-runtime", /^bash -s -- apply --mode docker-rootless --user dockeruser /],
                ["lab-3", 22203, "labadmin", "lab-3-podman-runtime", /^sudo -n bash -s -- apply --mode podman --user podmanuser /],
            ];
            for (const [host, port, user, runtime, create] of expected) {
                const write = command(`${host}-subids-write`);
                assert.ok(isSecret(write.inputs.connection));
                const c = write.inputs.connection.value;
                assert.deepEqual([c.host, c.port, c.user], ["127.0.0.1", port, user]);
                assert.match(c.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
                assert.match(write.inputs.create, user === "root" ? /^bash -s -- apply .*tenant-a:/ : /^sudo -n bash -s -- apply .*tenant-a:/);
                assert.match(command(runtime).inputs.create, create);
                of("pulumi-nodejs:dynamic:Resource", `${host}-verify-check`);
            }
            assert.match(command("lab-1-subids-write").inputs.connection.value.hostKey, /^ssh-ed25519 AAAA/);
            assert.equal(command("lab-2-subids-write").inputs.connection.value.hostKey, undefined);
            assert.deepEqual(log.warnings.filter((w) => /lab-\d/.test(w)).map((w) => /machine "(lab-\d)": no hostKey given/.exec(w)?.[1]), ["lab-2"]);
        });

        it("keeps the key file's content out of every plain input and output", async function () {
            const mod = await ran({ labInventory });
            for (const r of mocks.resources) {
                assert.ok(!plainStrings(r.inputs).some((s) => s.includes(labKeyBody)), `${r.type} ${r.name} has the key in plain text`);
            }
            // The verification results (the mocks' commands print no report, so they may fail: either way, no key).
            const hosts = await settle(pulumi.output(mod.hosts as pulumi.Input<unknown>));
            assert.ok(!JSON.stringify(hosts.value ?? null).includes(labKeyBody));
            assert.ok(!String(hosts.error ?? "").includes(labKeyBody));
        });

        it("hardens only the hosts config lists, with their runtimes", async function () {
            await ran({ labInventory, hosts: [{ name: "lab-3", runtime: { mode: "docker-rootless", user: "alice" } }] });
            assert.match(command("lab-3-docker-rootless-runtime").inputs.create, /^sudo -n bash -s -- apply --mode docker-rootless --user alice /);
            assert.deepEqual(mocks.resources.filter((r) => /^lab-[12]/.test(r.name)).map((r) => r.name), []);
        });

        it("finds a relative inventory path from the project root, whatever the working directory", async function () {
            const cwd = process.cwd();
            process.chdir(os.tmpdir());
            try {
                await ran({ labInventory: "test/stacks/fixtures/lab/inventory.json", hosts: [{ name: "lab-1" }] });
            } finally {
                process.chdir(cwd);
            }
            command("lab-1-docker-daemon");
        });

        it("stops without an inventory, naming hardened-hosts:labInventory and how to make one", async function () {
            assert.throws(() => run({ machines: "lab", labInventory: "/nonexistent/inventory.json" }), (e: Error) => {
                assert.ok(e instanceof pulumi.RunError);
                assert.match(e.message, /^hardened-hosts:labInventory: \/nonexistent\/inventory\.json does not exist .*; run `npm run lab -- up`$/);
                return true;
            });
            await settleRegistrations(100);
            assert.deepEqual(mocks.resources.map((r) => r.name), []);
        });

        it("stops when a key file holds a public key, naming the file and not its content", async function () {
            const inventory = path.join(__dirname, "fixtures", "lab", "public-key-as-key.json");
            assert.throws(() => run({ machines: "lab", labInventory: inventory }), (e: Error) => {
                assert.ok(e instanceof pulumi.RunError);
                assert.match(e.message, /^hardened-hosts:labInventory: host lab-1: .*\/id_lab\.pub is a public key; .*run `npm run lab -- up`$/);
                assert.ok(!e.message.includes("AAAAC3Nza"));
                return true;
            });
            await settleRegistrations(100);
            assert.deepEqual(mocks.resources.map((r) => r.name), []);
        });

        it("stops on a host the inventory does not have", function () {
            assert.throws(() => run({ machines: "lab", labInventory, hosts: [{ name: "lab-7" }] }),
                /hardened-hosts:hosts\[0\]\.name: "lab-7" is not in the lab inventory/);
        });
    });

    describe("machines = existing", function () {
        it("reaches each listed host as configured, through sudo for a non-root user", async function () {
            const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0dGVzdGtleXRlc3RrZXl0ZXN0a2V5dGVzdGtleXQ root@node-1";
            const mod = run({
                machines: "existing",
                hosts: [{ name: "node-1", address: "203.0.113.20", port: 2222, user: "admin", hostKey, runtime: { mode: "podman", user: "builder" } }],
            }, { sshPrivateKey: privateKey });
            await promiseOf(pulumi.output(mod.allocationTable));
            await settleRegistrations(300);
            const c = command("node-1-subids-write").inputs.connection.value;
            assert.deepEqual([c.host, c.port, c.user, c.hostKey, c.privateKey], ["203.0.113.20", 2222, "admin", hostKey, privateKey]);
            assert.match(command("node-1-podman-runtime").inputs.create, /^sudo -n bash -s -- apply --mode podman --user builder /);
            assert.equal(mocks.resources.filter((r) => r.type.startsWith("aws:")).length, 0);
        });
    });

    describe("machines = probe (the default)", function () {
        it("still runs the toolchain probe and nothing else", async function () {
            const mod = run({});
            assert.ok(pulumi.Output.isInstance(mod.kernel), "kernel is the probe's stdout");
            assert.equal(mod.allocation, undefined);
            await settleRegistrations(100);
            assert.deepEqual(mocks.resources.map((r) => `${r.type} ${r.name}`), ["command:local:Command toolchain-probe"]);
            assert.equal(mocks.resources[0]!.inputs.create, "uname -srm");
        });
    });
});
