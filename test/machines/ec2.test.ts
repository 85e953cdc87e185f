import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { isSecret, promiseOf, settle } from "../support/mocks";
import { installMachineMocks, settleRegistrations } from "./support";

// Ec2Machine against Pulumi mocks: what is sent to the AWS provider (and the Command provider),
// and what is refused before anything is registered.
describe("Ec2Machine (mocks)", function () {
    const mocks = installMachineMocks();
    let mod: typeof import("../../components/machines/ec2");
    let types: typeof import("../../components/machines/types");
    const publicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0dGVzdGtleXRlc3RrZXl0ZXN0a2V5dGVzdGtleXQ ops@example";
    const privateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
    const base = { distro: "debian-12" as const, sshCidrs: ["198.51.100.0/24", "2001:db8:1234::/48"], publicKey, privateKey };

    before(async function () {
        mod = await import("../../components/machines/ec2");
        types = await import("../../components/machines/types");
    });
    beforeEach(function () {
        mocks.resources.length = 0;
        mocks.calls.length = 0;
        mocks.invokes.clear();
        mocks.invokes.set("aws:ec2/getAmi:getAmi", { id: "ami-0123456789abcdef0", name: "debian-12-amd64-20250101-1", architecture: "x86_64" });
        mocks.invokes.set("aws:ec2/getVpc:getVpc", { id: "vpc-0def", default: true, cidrBlock: "172.31.0.0/16" });
        mocks.invokes.set("aws:ec2/getSubnets:getSubnets", { id: "eu-west-1", ids: ["subnet-0b", "subnet-0a", "subnet-0c"] });
        mocks.invokes.set("aws:ec2/getSubnet:getSubnet", { id: "subnet-0feed", vpcId: "vpc-0custom" });
        mocks.instance = { publicIp: "203.0.113.10", privateIp: "172.31.5.10" };
    });

    const of = (type: string, name: string) => {
        const r = mocks.resources.find((x) => x.type === type && x.name === name);
        assert.ok(r, `${type} ${name} in ${mocks.resources.map((x) => `${x.type} ${x.name}`).join(", ")}`);
        return r;
    };
    const invokesOf = (token: string) => mocks.calls.filter((c) => c.token === token);
    async function created(name: string, args: Partial<import("../../components/machines/ec2").Ec2MachineArgs> = {}) {
        const m = new mod.Ec2Machine(name, { ...base, ...args });
        await promiseOf(m.ready.urn);
        await promiseOf(m.connection);
        await settleRegistrations();
        return m;
    }

    it("opens only 22/tcp, only to sshCidrs (IPv4 and IPv6 apart), all egress, in the default VPC", async function () {
        await created("m1");
        const sg = of("aws:ec2/securityGroup:SecurityGroup", "m1-ssh");
        assert.equal(sg.inputs.vpcId, "vpc-0def");
        assert.equal(sg.inputs.ingress.length, 1);
        const [rule] = sg.inputs.ingress;
        assert.equal(rule.protocol, "tcp");
        assert.equal(rule.fromPort, 22);
        assert.equal(rule.toPort, 22);
        assert.deepEqual(rule.cidrBlocks, ["198.51.100.0/24"]);
        assert.deepEqual(rule.ipv6CidrBlocks, ["2001:db8:1234::/48"]);
        assert.match(rule.description, /SSH/);
        assert.deepEqual(sg.inputs.egress, [{
            description: "all outbound (packages, images)", protocol: "-1", fromPort: 0, toPort: 0,
            cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"],
        }]);
        // Default VPC, then its default-for-AZ subnets; the first by ID is used.
        assert.deepEqual(invokesOf("aws:ec2/getVpc:getVpc").map((c) => c.inputs.default), [true]);
        const subnets = invokesOf("aws:ec2/getSubnets:getSubnets");
        assert.equal(subnets.length, 1);
        assert.deepEqual(subnets[0]!.inputs.filters, [
            { name: "vpc-id", values: ["vpc-0def"] },
            { name: "default-for-az", values: ["true"] },
        ]);
        assert.equal(of("aws:ec2/instance:Instance", "m1-instance").inputs.subnetId, "subnet-0a");
    });

    it("sends only IPv4 blocks when no IPv6 block is listed", async function () {
        await created("m1b", { sshCidrs: ["203.0.113.7/32"] });
        const [rule] = of("aws:ec2/securityGroup:SecurityGroup", "m1b-ssh").inputs.ingress;
        assert.deepEqual(rule.cidrBlocks, ["203.0.113.7/32"]);
        assert.equal(rule.ipv6CidrBlocks, undefined);
    });

    it("requires IMDSv2, encrypts a gp3 root volume and tags everything it creates", async function () {
        const m = await created("m2", { tags: { team: "ops" }, rootVolumeGiB: 32, instanceType: "m7i.large" });
        const instance = of("aws:ec2/instance:Instance", "m2-instance");
        assert.deepEqual(instance.inputs.metadataOptions, { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 });
        assert.deepEqual(instance.inputs.rootBlockDevice, { encrypted: true, volumeType: "gp3", volumeSize: 32 });
        assert.equal(instance.inputs.ami, "ami-0123456789abcdef0");
        assert.equal(instance.inputs.instanceType, "m7i.large");
        assert.equal(instance.inputs.associatePublicIpAddress, true);
        assert.equal(instance.inputs.keyName, "m2-key-kp");
        assert.deepEqual(instance.inputs.vpcSecurityGroupIds, ["m2-ssh-id"]);
        const tags = { Name: "m2", team: "ops", "hardened-hosts:managed": "true" };
        assert.deepEqual(instance.inputs.tags, tags);
        assert.deepEqual(of("aws:ec2/securityGroup:SecurityGroup", "m2-ssh").inputs.tags, tags);
        assert.deepEqual(of("aws:ec2/keyPair:KeyPair", "m2-key").inputs.tags, tags);
        assert.equal(await promiseOf(m.instanceId), "m2-instance-id");
        assert.equal(await promiseOf(m.amiId), "ami-0123456789abcdef0");
        assert.equal(await promiseOf(m.publicIp), "203.0.113.10");
        assert.equal(await promiseOf(m.privateIp), "172.31.5.10");
    });

    it("uses the defaults: t3.small, 16 GiB, Name = component name; a caller's Name wins but not over the managed tag", async function () {
        await created("m3", { tags: { Name: "edge-1", "hardened-hosts:managed": "no" } });
        const instance = of("aws:ec2/instance:Instance", "m3-instance");
        assert.equal(instance.inputs.instanceType, "t3.small");
        assert.equal(instance.inputs.rootBlockDevice.volumeSize, 16);
        assert.deepEqual(instance.inputs.tags, { Name: "edge-1", "hardened-hosts:managed": "true" });
    });

    it("imports the given public key as the key pair", async function () {
        await created("m4");
        assert.equal(of("aws:ec2/keyPair:KeyPair", "m4-key").inputs.publicKey, publicKey);
    });

    const distros: [import("../../components/machines/ec2").Ec2Distro, string, string, string][] = [
        ["debian-12", "136693071363", "debian-12-amd64-*", "admin"],
        ["ubuntu-24.04", "099720109477", "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*", "ubuntu"],
        ["amazon-linux-2023", "amazon", "al2023-ami-2023.*-x86_64", "ec2-user"],
    ];
    for (const [distro, owner, pattern, user] of distros) {
        it(`looks up the newest official ${distro} image and logs in as ${user} with sudo`, async function () {
            const name = `d-${distro.replace(/\W+/g, "-")}`;
            const m = await created(name, { distro });
            const amis = invokesOf("aws:ec2/getAmi:getAmi");
            assert.equal(amis.length, 1);
            assert.deepEqual(amis[0]!.inputs.owners, [owner]);
            assert.equal(amis[0]!.inputs.mostRecent, true);
            assert.deepEqual(amis[0]!.inputs.filters, [
                { name: "name", values: [pattern] },
                { name: "architecture", values: ["x86_64"] },
                { name: "virtualization-type", values: ["hvm"] },
                { name: "root-device-type", values: ["ebs"] },
                { name: "state", values: ["available"] },
            ]);
            assert.equal(m.loginUser, user);
            const conn = await promiseOf(m.connection);
            assert.equal(conn.user, user);
            assert.equal(conn.sudo, true);
        });
    }

    it("connects to the public IP with the private key as a secret, and waits for SSH with bounded dials", async function () {
        const m = await created("m5");
        const conn = await promiseOf(m.connection);
        assert.deepEqual({ ...conn, privateKey: "-" }, { host: "203.0.113.10", port: 22, user: "admin", privateKey: "-", sudo: true });
        assert.equal(conn.privateKey, privateKey);
        assert.equal(await pulumi.isSecret(m.connection), true);
        assert.equal(await pulumi.isSecret(pulumi.output(m.hostConnection.privateKey!)), true);
        assert.equal(await pulumi.isSecret(pulumi.output(m.hostConnection.host)), false);

        const ready = of("command:remote:Command", "m5-ssh-ready");
        assert.equal(ready.inputs.create, "cloud-init status --wait >/dev/null 2>&1 || true; echo ready");
        assert.ok(isSecret(ready.inputs.connection), "the ready command's connection (with the key) is secret");
        const c = ready.inputs.connection.value;
        assert.equal(c.dialErrorLimit, 40);
        assert.equal(c.perDialTimeout, 15);
        assert.deepEqual([c.host, c.port, c.user, c.privateKey], ["203.0.113.10", 22, "admin", privateKey]);
        assert.deepEqual(ready.inputs.triggers, ["m5-instance-id"]);
        assert.equal(m.ready.urn !== undefined, true);
    });

    it("connects to the private IP when the instance has no public one", async function () {
        mocks.instance = { publicIp: "", privateIp: "10.1.2.3" };
        const m = await created("m6", { associatePublicIp: false });
        assert.equal(of("aws:ec2/instance:Instance", "m6-instance").inputs.associatePublicIpAddress, false);
        assert.equal((await promiseOf(m.connection)).host, "10.1.2.3");
    });

    it("uses a given subnet and looks up its VPC for the security group (no default-VPC lookup)", async function () {
        await created("m7", { subnetId: "subnet-0feed" });
        assert.equal(of("aws:ec2/instance:Instance", "m7-instance").inputs.subnetId, "subnet-0feed");
        assert.equal(of("aws:ec2/securityGroup:SecurityGroup", "m7-ssh").inputs.vpcId, "vpc-0custom");
        assert.deepEqual(invokesOf("aws:ec2/getSubnet:getSubnet").map((c) => c.inputs.id), ["subnet-0feed"]);
        assert.equal(invokesOf("aws:ec2/getVpc:getVpc").length, 0);
        assert.equal(invokesOf("aws:ec2/getSubnets:getSubnets").length, 0);
    });

    it("picks a subnet of a given VPC (any subnet of it, not only default-for-AZ)", async function () {
        await created("m8", { vpcId: "vpc-0abc" });
        assert.equal(of("aws:ec2/securityGroup:SecurityGroup", "m8-ssh").inputs.vpcId, "vpc-0abc");
        const subnets = invokesOf("aws:ec2/getSubnets:getSubnets");
        assert.deepEqual(subnets[0]!.inputs.filters, [{ name: "vpc-id", values: ["vpc-0abc"] }]);
        assert.equal(invokesOf("aws:ec2/getVpc:getVpc").length, 0);
    });

    it("fails naming subnetId when the VPC has no subnet to use", async function () {
        mocks.invokes.set("aws:ec2/getSubnets:getSubnets", { id: "x", ids: [] });
        const m = new mod.Ec2Machine("m9", base);
        const { error } = await settle(m.hostConnection.host as pulumi.Output<string>);
        assert.match(String(error), /subnetId: not given, and VPC vpc-0def has no default-for-AZ subnet/);
    });

    const invalid: [string, object, RegExp][] = [
        ["SSH open to the IPv4 world", { sshCidrs: ["198.51.100.0/24", "0.0.0.0/0"] }, /sshCidrs: "0\.0\.0\.0\/0" would open SSH to the whole Internet/],
        ["SSH open to the IPv6 world", { sshCidrs: ["::/0"] }, /sshCidrs: "::\/0" would open SSH to the whole Internet/],
        ["half the Internet", { sshCidrs: ["0.0.0.0/1", "128.0.0.0/1"] }, /sshCidrs: "0\.0\.0\.0\/1" covers a large part of the Internet/],
        ["no SSH networks", { sshCidrs: [] }, /sshCidrs: must list at least one network/],
        ["an address without prefix", { sshCidrs: ["203.0.113.7"] }, /sshCidrs: "203\.0\.113\.7" is not a CIDR block/],
        ["a prefix past /32", { sshCidrs: ["203.0.113.7/33"] }, /sshCidrs: "203\.0\.113\.7\/33" has a prefix longer than \/32/],
        ["a bad octet", { sshCidrs: ["203.0.113.300/32"] }, /sshCidrs: "203\.0\.113\.300\/32" is not a CIDR block/],
        ["host bits set", { sshCidrs: ["198.51.100.7/24"] }, /sshCidrs: "198\.51\.100\.7\/24" has host bits set; the network is 198\.51\.100\.0\/24/],
        ["IPv6 host bits set", { sshCidrs: ["2001:db8::1/64"] }, /sshCidrs: "2001:db8::1\/64" has host bits set; the network is 2001:db8::\/64/],
        ["garbage", { sshCidrs: ["office; rm -rf /"] }, /sshCidrs: "office; rm -rf \/" is not a CIDR block/],
        ["a duplicate", { sshCidrs: ["203.0.113.0/24", "203.0.113.0/24"] }, /sshCidrs: "203\.0\.113\.0\/24" is listed twice/],
        ["an ECDSA public key", { publicKey: "ecdsa-sha2-nistp256 AAAAE2VjZHNh" }, /publicKey: .* is not an OpenSSH ed25519 or RSA public key/],
        ["a private key as public key", { publicKey: privateKey }, /publicKey: is a private key; give the public key/],
        ["a public key as private key", { privateKey: publicKey }, /privateKey: is a public key/],
        ["a tiny root volume", { rootVolumeGiB: 4 }, /rootVolumeGiB: 4 is not a whole number of GiB from 8 to 16384/],
        ["a bad instance type", { instanceType: "t3 small" }, /instanceType: "t3 small" is not an instance type/],
        ["a bad subnet ID", { subnetId: "sn-1" }, /subnetId: "sn-1" is not a subnet ID/],
        ["a bad VPC ID", { vpcId: "default" }, /vpcId: "default" is not a VPC ID/],
        ["a tag key AWS reserves", { tags: { "aws:owner": "ops" } }, /tags: "aws:owner": tag keys starting with "aws:" are reserved by AWS/],
        ["a tag value that is not a string", { tags: { team: 7 } }, /tags: "team": 7 is not a string/],
        ["an unknown distro", { distro: "centos-7" }, /distro: "centos-7" is not one of "debian-12", "ubuntu-24.04", "amazon-linux-2023"/],
    ];
    for (const [what, override, message] of invalid) {
        it(`refuses ${what} at construction, naming the field, before registering anything`, async function () {
            assert.throws(() => new mod.Ec2Machine(`bad-${what.replace(/\W+/g, "-")}`, { ...base, ...override } as any), (e: Error) => {
                assert.equal(e.constructor.name, "ResourceError");
                assert.match(e.message, message);
                assert.ok(!e.message.includes("b3BlbnNzaC1rZXktdjEAAAAA"), "the private key is never quoted");
                return true;
            });
            await settleRegistrations();
            assert.deepEqual(mocks.resources.filter((r) => r.type.startsWith("aws:")).map((r) => r.name), []);
            assert.deepEqual(mocks.calls.map((c) => c.token), []);
        });
    }

    it("refuses 0.0.0.0/0 arriving as an Output, naming sshCidrs", async function () {
        const m = new mod.Ec2Machine("late-world", { ...base, sshCidrs: pulumi.output(["0.0.0.0/0"]) });
        const { error } = await settle(m.securityGroupId);
        assert.match(String(error), /sshCidrs: "0\.0\.0\.0\/0" would open SSH to the whole Internet/);
        await settleRegistrations();
        assert.equal(mocks.resources.filter((r) => r.type === "aws:ec2/securityGroup:SecurityGroup").length, 0);
    });

    describe("machineConnection", function () {
        it("creates an Ec2Machine for kind ec2; host work waits for its ready command", async function () {
            const machine = types.machineConnection("fleet-a", { kind: "ec2", ...base });
            assert.equal(machine.kind, "ec2");
            assert.ok(machine.resource instanceof mod.Ec2Machine);
            assert.deepEqual(machine.dependsOn, [machine.resource.ready]);
            assert.equal(await promiseOf(pulumi.output(machine.connection.host)), "203.0.113.10");
            assert.equal(machine.connection.user, "admin");
            await settleRegistrations();
            of("aws:ec2/instance:Instance", "fleet-a-instance");
        });

        it("refuses an unknown kind, naming it", function () {
            assert.throws(() => types.machineConnection("x", { kind: "vagrant" } as any), /machine "x": kind: "vagrant" is not one of "ec2", "existing"/);
        });
    });
});
