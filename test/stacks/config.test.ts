import * as assert from "node:assert/strict";
import * as path from "node:path";
import { parseStackConfig } from "../../stacks/config";

const from = (values: Record<string, unknown>) => (key: string) => values[key];

describe("stack config", function () {
    it("defaults to the toolchain probe", function () {
        assert.deepEqual(parseStackConfig(from({})), { kind: "probe" });
    });

    it("reads existing hosts with defaults", function () {
        const plan = parseStackConfig(from({
            machines: "existing",
            tenants: { "tenant-a": {}, "tenant-b": { size: 131072 } },
            hosts: [
                { name: "node-1", address: "203.0.113.10", user: "admin", runtime: { mode: "userns-remap" }, tenants: ["tenant-a"] },
                { name: "node-2", address: "node-2.example.net", port: 2222, runtime: { mode: "podman", user: "builder" } },
            ],
        }));
        assert.equal(plan.kind, "existing");
        if (plan.kind !== "existing") return;
        assert.deepEqual(plan.tenants, { "tenant-a": {}, "tenant-b": { size: 131072 } });
        assert.equal(plan.hosts[0]?.port, 22);
        assert.equal(plan.hosts[1]?.user, "root");
        assert.equal(plan.hosts[1]?.privateKeyKey, "sshPrivateKey");
        assert.deepEqual(plan.hosts[1]?.runtime, { mode: "podman", user: "builder" });
        assert.equal(plan.reportOnly, false);
    });

    const host = { name: "node-1", address: "10.0.0.1" };
    const bad: [string, Record<string, unknown>, RegExp][] = [
        ["an unknown machines kind", { machines: "vagrant" }, /hardened-hosts:machines: "vagrant" is not one of "probe", "ledger", "existing", "aws", "lab"/],
        ["no hosts", { machines: "existing" }, /hardened-hosts:hosts: must be a non-empty list/],
        ["an address with shell characters", { machines: "existing", hosts: [{ ...host, address: "10.0.0.1;reboot" }] }, /hardened-hosts:hosts\[0\]\.address: /],
        ["a port out of range", { machines: "existing", hosts: [{ ...host, port: 70000 }] }, /hardened-hosts:hosts\[0\]\.port: /],
        ["an unknown runtime", { machines: "existing", hosts: [{ ...host, runtime: { mode: "lxc" } }] }, /hardened-hosts:hosts\[0\]\.runtime\.mode: "lxc"/],
        ["a rootless runtime for root", { machines: "existing", hosts: [{ ...host, runtime: { mode: "podman", user: "root" } }] }, /hardened-hosts:hosts\[0\]\.runtime\.user: "root" is not a valid non-root/],
        ["a tenant that is not declared", { machines: "existing", hosts: [{ ...host, tenants: ["ghost"] }] }, /hardened-hosts:hosts\[0\]\.tenants\[0\]: "ghost" is not one of hardened-hosts:tenants/],
        ["a tenant size under 65536", { machines: "existing", tenants: { t: { size: 1000 } }, hosts: [host] }, /hardened-hosts:tenants\.t\.size: must be an integer of at least 65536/],
        ["a host name used twice", { machines: "existing", hosts: [host, host] }, /hardened-hosts:hosts\[1\]\.name: "node-1" is used twice/],
        ["existingContainers: report (gone: refuse or stop)", { machines: "existing", hosts: [{ ...host, runtime: { mode: "userns-remap", existingContainers: "report" } }] },
            /hardened-hosts:hosts\[0\]\.runtime\.existingContainers: "report" is not "refuse" \(the default\) or "stop"/],
        ["takeOverRemap not a boolean", { machines: "existing", hosts: [{ ...host, runtime: { mode: "userns-remap", takeOverRemap: "yes" } }] },
            /hardened-hosts:hosts\[0\]\.runtime\.takeOverRemap: must be true or false/],
        ["a misspelt userns-remap setting", { machines: "existing", hosts: [{ ...host, runtime: { mode: "userns-remap", existingContainer: "stop" } }] },
            /hardened-hosts:hosts\[0\]\.runtime\.existingContainer: is not a userns-remap setting \(remapUser, daemonOptions, takeOverRemap, existingContainers\)/],
    ];

    describe("shards of a fleet (#29)", function () {
        it("a ledger stack: tenants and runtime owners, no hosts", function () {
            assert.deepEqual(parseStackConfig(from({ machines: "ledger", tenants: { "tenant-a": {} }, runtimeOwners: { dockremap: {}, containers: { size: 1048576 } } })),
                { kind: "ledger", tenants: { "tenant-a": {} }, runtimeOwners: { dockremap: {}, containers: { size: 1048576 } } });
        });
        it("a shard: no tenants of its own; a host without a list gets every ledger tenant, a list names any owner", function () {
            const plan = parseStackConfig(from({ machines: "existing", ledgerStack: "ledger", hosts: [host, { ...host, name: "node-2", tenants: ["team-x"] }] }));
            assert.equal(plan.kind, "existing");
            if (plan.kind !== "existing") return;
            assert.equal(plan.ledgerStack, "ledger");
            assert.deepEqual(plan.tenants, {});
            assert.equal(plan.hosts[0]!.tenants, undefined);
            assert.deepEqual(plan.hosts[1]!.tenants, ["team-x"]);
        });
        const shardBad: [string, Record<string, unknown>, RegExp][] = [
            ["tenants on a shard", { machines: "existing", ledgerStack: "ledger", tenants: { t: {} }, hosts: [host] }, /hardened-hosts:tenants: is the ledger stack's \(hardened-hosts:ledgerStack = ledger\)/],
            ["a ledger stack name with a space", { machines: "existing", ledgerStack: "my ledger", hosts: [host] }, /hardened-hosts:ledgerStack: must be a stack name/],
            ["hosts on a ledger stack", { machines: "ledger", tenants: { t: {} }, hosts: [host] }, /hardened-hosts:hosts: is not a setting of a ledger stack/],
            ["an owner both tenant and runtime owner", { machines: "ledger", tenants: { t: {} }, runtimeOwners: { t: {} } }, /hardened-hosts:runtimeOwners\.t: is also a tenant/],
            ["an empty ledger", { machines: "ledger" }, /a ledger stack needs at least one tenant or runtime owner/],
        ];
        for (const [what, values, message] of shardBad) {
            it(`names the key for ${what}`, function () {
                assert.throws(() => parseStackConfig(from(values)), message);
            });
        }
    });

    it("reads the opt-ins that let a userns-remap switch stop containers and take over an operator's remap", function () {
        const plan = parseStackConfig(from({ machines: "existing", hosts: [{ ...host, runtime: { mode: "userns-remap", existingContainers: "stop", takeOverRemap: true } }] }));
        assert.equal(plan.kind, "existing");
        if (plan.kind !== "existing") return;
        assert.deepEqual(plan.hosts[0]?.runtime, { mode: "userns-remap", existingContainers: "stop", takeOverRemap: true });
    });
    for (const [what, values, message] of bad) {
        it(`names the key for ${what}`, function () {
            assert.throws(() => parseStackConfig(from(values)), message);
        });
    }

    describe("aws", function () {
        const publicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0dGVzdGtleXRlc3RrZXl0ZXN0a2V5dGVzdGtleXQ ops@example";
        const aws = { sshCidrs: ["198.51.100.0/24", "2001:db8:1234::/48"], publicKey };
        const awsStack = (over: Record<string, unknown> = {}, awsOver: Record<string, unknown> = {}) => from({
            machines: "aws",
            tenants: { "tenant-a": {} },
            aws: { ...aws, ...awsOver },
            hosts: [{ name: "web-1", tenants: ["tenant-a"] }, { name: "web-2", runtime: { mode: "podman", user: "builder" } }],
            ...over,
        });

        it("every mode the images' recorded facts support passes at preview: Ubuntu 24.04 every mode, Amazon Linux 2023 userns-remap", function () {
            const modes = [{ mode: "userns-remap" }, { mode: "docker-rootless", user: "builder" }, { mode: "podman", user: "builder" }, { mode: "podman-auto" }];
            const hosts = modes.map((runtime, i) => ({ name: `web-${i}`, runtime }));
            assert.equal(parseStackConfig(awsStack({ hosts }, { distro: "ubuntu-24.04" })).kind, "aws");
            assert.equal(parseStackConfig(awsStack({ hosts: [{ name: "web-1", runtime: { mode: "userns-remap" } }] }, { distro: "amazon-linux-2023" })).kind, "aws");
        });

        it("kubelet-userns: its settings read, a wrong one named", function () {
            const plan = parseStackConfig(awsStack({ hosts: [{ name: "node-1", runtime: { mode: "kubelet-userns", idsPerPod: 131072, maxPods: 8, restartKubelet: true } }] }, { distro: "ubuntu-24.04" }));
            assert.equal(plan.kind, "aws");
            if (plan.kind !== "aws") return;
            assert.deepEqual(plan.hosts[0]!.runtime, { mode: "kubelet-userns", idsPerPod: 131072, maxPods: 8, restartKubelet: true });
            assert.throws(() => parseStackConfig(awsStack({ hosts: [{ name: "node-1", runtime: { mode: "kubelet-userns", idsPerPod: 100000 } }] }, { distro: "ubuntu-24.04" })),
                /hardened-hosts:hosts\[0\]\.runtime\.idsPerPod: must be a multiple of 65536/);
            assert.throws(() => parseStackConfig(awsStack({ hosts: [{ name: "node-1", runtime: { mode: "kubelet-userns", slots: 3 } }] }, { distro: "ubuntu-24.04" })),
                /hardened-hosts:hosts\[0\]\.runtime\.slots: is not a kubelet-userns setting/);
        });

        it("reads the EC2 settings with defaults (debian-12, key in sshPrivateKey, no tags) and per-host runtime and tenants", function () {
            const plan = parseStackConfig(awsStack());
            assert.deepEqual(plan, {
                kind: "aws",
                aws: { distro: "debian-12", sshCidrs: aws.sshCidrs, publicKey, privateKeyKey: "sshPrivateKey", tags: {} },
                hosts: [
                    { name: "web-1", runtime: { mode: "userns-remap" }, tenants: ["tenant-a"] },
                    { name: "web-2", runtime: { mode: "podman", user: "builder" }, tenants: [] },
                ],
                tenants: { "tenant-a": {} },
                reportOnly: false,
            });
        });

        it("reads every optional setting", function () {
            const plan = parseStackConfig(awsStack({ reportOnly: true }, {
                distro: "ubuntu-24.04", instanceType: "m7i.large", subnetId: "subnet-0feed", vpcId: "vpc-0abc",
                privateKeyConfig: "awsKey", tags: { team: "ops", env: "" }, rootVolumeGiB: 32, associatePublicIp: false,
            }));
            assert.equal(plan.kind, "aws");
            if (plan.kind !== "aws") return;
            assert.deepEqual(plan.aws, {
                distro: "ubuntu-24.04", instanceType: "m7i.large", subnetId: "subnet-0feed", vpcId: "vpc-0abc", sshCidrs: aws.sshCidrs,
                publicKey, privateKeyKey: "awsKey", tags: { team: "ops", env: "" }, rootVolumeGiB: 32, associatePublicIp: false,
            });
            assert.equal(plan.reportOnly, true);
        });

        const bad: [string, Record<string, unknown>, Record<string, unknown>, RegExp][] = [
            ["no aws settings", { aws: undefined }, {}, /^hardened-hosts:aws: must be set for machines = aws/],
            ["SSH open to the IPv4 world", {}, { sshCidrs: ["198.51.100.0/24", "0.0.0.0/0"] }, /^hardened-hosts:aws\.sshCidrs\[1\]: "0\.0\.0\.0\/0" would open SSH to the whole Internet; list the networks the hosts are administered from$/],
            ["SSH open to the IPv6 world", {}, { sshCidrs: ["::/0"] }, /^hardened-hosts:aws\.sshCidrs\[0\]: "::\/0" would open SSH to the whole Internet/],
            ["half the Internet", {}, { sshCidrs: ["0.0.0.0/1", "128.0.0.0/1"] }, /^hardened-hosts:aws\.sshCidrs\[0\]: "0\.0\.0\.0\/1" covers a large part of the Internet/],
            ["no SSH networks", {}, { sshCidrs: [] }, /^hardened-hosts:aws\.sshCidrs: must list at least one network/],
            ["SSH networks as one string", {}, { sshCidrs: "198.51.100.0/24" }, /^hardened-hosts:aws\.sshCidrs: must list at least one network/],
            ["a CIDR with host bits", {}, { sshCidrs: ["198.51.100.7/24"] }, /^hardened-hosts:aws\.sshCidrs\[0\]: "198\.51\.100\.7\/24" has host bits set/],
            ["a CIDR listed twice", {}, { sshCidrs: ["198.51.100.0/24", "198.51.100.0/24"] }, /^hardened-hosts:aws\.sshCidrs\[1\]: "198\.51\.100\.0\/24" is listed twice/],
            ["shell text as a CIDR", {}, { sshCidrs: ["$(reboot)/32"] }, /^hardened-hosts:aws\.sshCidrs\[0\]: "\$\(reboot\)\/32" is not a CIDR block/],
            ["no public key", {}, { publicKey: undefined }, /^hardened-hosts:aws\.publicKey: is required/],
            ["a private key as public key", {}, { publicKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n" }, /^hardened-hosts:aws\.publicKey: is a private key/],
            ["an unknown distro", {}, { distro: "centos-7" }, /^hardened-hosts:aws\.distro: "centos-7" is not one of "debian-12", "ubuntu-24.04", "amazon-linux-2023"/],
            ["a bad instance type", {}, { instanceType: "big" }, /^hardened-hosts:aws\.instanceType: "big" is not an instance type/],
            ["a bad subnet", {}, { subnetId: "default" }, /^hardened-hosts:aws\.subnetId: "default" is not a subnet ID/],
            ["a bad VPC", {}, { vpcId: "vpc-XYZ" }, /^hardened-hosts:aws\.vpcId: "vpc-XYZ" is not a VPC ID/],
            ["a root volume too small", {}, { rootVolumeGiB: 2 }, /^hardened-hosts:aws\.rootVolumeGiB: 2 is not a whole number of GiB/],
            ["a tag AWS reserves", {}, { tags: { "aws:cost": "x" } }, /^hardened-hosts:aws\.tags\.aws:cost: tag keys starting with "aws:" are reserved by AWS/],
            ["the managed tag", {}, { tags: { "hardened-hosts:managed": "no" } }, /^hardened-hosts:aws\.tags\.hardened-hosts:managed: is set by hardened-hosts/],
            ["a tag that is not a string", {}, { tags: { cost: 3 } }, /^hardened-hosts:aws\.tags\.cost: 3 is not a string/],
            ["a region (the provider's)", {}, { region: "eu-west-1" }, /^hardened-hosts:aws\.region: is not a setting of this stack: the region is the AWS provider's \(`pulumi config set aws:region \.\.\.`\)/],
            ["a typo", {}, { sshCidr: ["198.51.100.0/24"] }, /^hardened-hosts:aws\.sshCidr: is not one of distro, /],
            ["a bad private key config name", {}, { privateKeyConfig: "a b" }, /^hardened-hosts:aws\.privateKeyConfig: "a b" is not a config key name/],
            ["associatePublicIp as a string", {}, { associatePublicIp: "yes" }, /^hardened-hosts:aws\.associatePublicIp: must be true or false/],
            ["an address on a host", { hosts: [{ name: "web-1", address: "10.0.0.1" }] }, {}, /^hardened-hosts:hosts\[0\]\.address: is not set here: it comes from the EC2 instance .*; remove it$/],
            ["a login user on a host", { hosts: [{ name: "web-1", user: "admin" }] }, {}, /^hardened-hosts:hosts\[0\]\.user: is not set here: it comes from the EC2 instance/],
            ["an unknown host setting", { hosts: [{ name: "web-1", tenant: ["tenant-a"] }] }, {}, /^hardened-hosts:hosts\[0\]\.tenant: is not a host setting here \(name, runtime, tenants\)/],
            ["no hosts", { hosts: undefined }, {}, /^hardened-hosts:hosts: must be a non-empty list of hosts/],
            ["a host name used twice", { hosts: [{ name: "web-1" }, { name: "web-1" }] }, {}, /^hardened-hosts:hosts\[1\]\.name: "web-1" is used twice/],
            ["an undeclared tenant", { hosts: [{ name: "web-1", tenants: ["ghost"] }] }, {}, /^hardened-hosts:hosts\[0\]\.tenants\[0\]: "ghost" is not one of hardened-hosts:tenants/],
            ["a rootless runtime for root", { hosts: [{ name: "web-1", runtime: { mode: "podman", user: "root" } }] }, {}, /^hardened-hosts:hosts\[0\]\.runtime\.user: "root" is not a valid non-root user name/],
            // #30: the image's distribution decides at preview (recorded facts, components/platform/).
            ["rootless Podman on Amazon Linux 2023", {}, { distro: "amazon-linux-2023" }, /^hardened-hosts:hosts\[1\]\.runtime\.mode: "podman" is refused on amazon-linux-2023: Podman is not in Amazon Linux 2023's repositories .*What you can do: .* \(hardened-hosts:aws\.distro is "amazon-linux-2023"\)$/],
            ["rootless Docker on Amazon Linux 2023", { hosts: [{ name: "web-1", runtime: { mode: "docker-rootless", user: "builder" } }] }, { distro: "amazon-linux-2023" }, /^hardened-hosts:hosts\[0\]\.runtime\.mode: "docker-rootless" is refused on amazon-linux-2023: .*no rootless extras/],
        ];
        for (const [what, over, awsOver, message] of bad) {
            it(`names the key for ${what}`, function () {
                assert.throws(() => parseStackConfig(awsStack(over, awsOver)), (e: Error) => {
                    assert.equal(e.name, "ConfigError");
                    assert.match(e.message, message);
                    return true;
                });
            });
        }
    });

    describe("lab", function () {
        const fixtures = path.join(__dirname, "fixtures", "lab");
        const env = { projectRoot: fixtures };
        const inventory = path.join(fixtures, "inventory.json");
        const labStack = (over: Record<string, unknown> = {}) => from({ machines: "lab", labInventory: "inventory.json", ...over });

        it("defaults to every inventory host, its profile's runtime and every fleet tenant", function () {
            const plan = parseStackConfig(labStack({ tenants: { "tenant-a": {}, "tenant-b": { size: 131072 } } }), "hardened-hosts", env);
            assert.equal(plan.kind, "lab");
            if (plan.kind !== "lab") return;
            assert.equal(plan.inventory, inventory);
            assert.deepEqual(plan.hosts.map((h) => [h.name, h.runtime, h.tenants]), [
                ["lab-1", { mode: "userns-remap" }, ["tenant-a", "tenant-b"]],
                ["lab-2", { mode: "docker-rootless", user: "dockeruser" }, ["tenant-a", "tenant-b"]],
                ["lab-3", { mode: "podman", user: "podmanuser" }, ["tenant-a", "tenant-b"]],
            ]);
            const lab3 = plan.hosts[2]!;
            assert.deepEqual([lab3.address, lab3.port, lab3.user, lab3.profile, lab3.privateKeyFile], [
                "127.0.0.1", 22203, "labadmin", "sudo-user", path.join(fixtures, "id_lab"),
            ]);
            assert.equal(plan.reportOnly, false);
        });

        it("takes the listed hosts only, their runtime and tenants from config, their connection from the inventory", function () {
            const plan = parseStackConfig(labStack({
                tenants: { "tenant-a": {} },
                hosts: [{ name: "lab-3", tenants: ["tenant-a"] }, { name: "lab-1", runtime: { mode: "podman", user: "alice" } }],
            }), "hardened-hosts", env);
            if (plan.kind !== "lab") return assert.fail(plan.kind);
            assert.deepEqual(plan.hosts.map((h) => [h.name, h.runtime, h.tenants, h.port]), [
                ["lab-3", { mode: "podman", user: "podmanuser" }, ["tenant-a"], 22203],
                ["lab-1", { mode: "podman", user: "alice" }, [], 22201],
            ]);
        });

        it("looks for .lab/inventory.json under the project root by default", function () {
            const seen: string[] = [];
            assert.throws(() => parseStackConfig(from({ machines: "lab" }), "hardened-hosts", {
                projectRoot: "/project",
                loadLabInventory: (file) => {
                    seen.push(file);
                    throw new Error("stop");
                },
            }), /stop/);
            assert.deepEqual(seen, ["/project/.lab/inventory.json"]);
        });

        const bad: [string, Record<string, unknown>, RegExp][] = [
            ["a missing inventory", { labInventory: "nowhere.json" }, /^hardened-hosts:labInventory: .*nowhere\.json does not exist .*; run `npm run lab -- up`$/],
            ["a malformed inventory", { labInventory: "not-json.json" }, /^hardened-hosts:labInventory: .*not-json\.json: is not valid JSON .*; run `npm run lab -- up`$/],
            ["an inventory path that is not a string", { labInventory: 3 }, /^hardened-hosts:labInventory: must be a file path/],
            ["a host the inventory does not have", { hosts: [{ name: "lab-9" }] }, /^hardened-hosts:hosts\[0\]\.name: "lab-9" is not in the lab inventory .*inventory\.json \(its hosts: lab-1, lab-2, lab-3\)/],
            ["an address in config", { hosts: [{ name: "lab-1", address: "10.0.0.1" }] }, /^hardened-hosts:hosts\[0\]\.address: is not set here: it comes from the lab inventory \(hardened-hosts:labInventory = .*inventory\.json\); remove it$/],
            ["a port in config", { hosts: [{ name: "lab-1", port: 22 }] }, /^hardened-hosts:hosts\[0\]\.port: is not set here: it comes from the lab inventory/],
            ["a user in config", { hosts: [{ name: "lab-1", user: "root" }] }, /^hardened-hosts:hosts\[0\]\.user: is not set here/],
            ["a key in config", { hosts: [{ name: "lab-1", privateKeyConfig: "k" }] }, /^hardened-hosts:hosts\[0\]\.privateKeyConfig: is not set here/],
            ["a host key in config", { hosts: [{ name: "lab-1", hostKey: "ssh-ed25519 AAAA" }] }, /^hardened-hosts:hosts\[0\]\.hostKey: is not set here/],
            ["a host listed twice", { hosts: [{ name: "lab-1" }, { name: "lab-1" }] }, /^hardened-hosts:hosts\[1\]\.name: "lab-1" is used twice/],
            ["an empty host list", { hosts: [] }, /^hardened-hosts:hosts: must be a non-empty list of hosts/],
            ["an undeclared tenant", { hosts: [{ name: "lab-1", tenants: ["ghost"] }] }, /^hardened-hosts:hosts\[0\]\.tenants\[0\]: "ghost" is not one of hardened-hosts:tenants/],
        ];
        for (const [what, over, message] of bad) {
            it(`names the key for ${what}`, function () {
                assert.throws(() => parseStackConfig(labStack(over), "hardened-hosts", env), (e: Error) => {
                    assert.equal(e.name, "ConfigError");
                    assert.match(e.message, message);
                    return true;
                });
            });
        }
    });
});
