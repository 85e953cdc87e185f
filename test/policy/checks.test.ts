import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ReportViolation, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import { scriptCommandLine } from "../../components/host/script";
import { planLedger } from "../../components/subids/ledger";
import {
    Finding,
    ResourceView,
    StackResourceView,
    TYPES,
    checkHardenedHostRuntimes,
    checkImdsV2,
    checkRangeBounds,
    checkRangeOverlaps,
    checkSshIngress,
    coversSsh,
    hostScriptArgs,
    shellWords,
    worldOpenProblem,
} from "../../policy/checks";
import * as pack from "../../policy/policies";
import { repoRoot } from "../support/pulumi-cli";

// The policies' checks called directly with resources shaped as the engine sends them (the
// shapes were read off a real preview of test/policy/fixtures/policy-stack): fast, no engine.

// The policy SDK's own preview unknowns: reading one throws its UnknownValueError (internal, so
// not in its type declarations).
const { unknownCheckingProxy, unknownStringValue } = require("@pulumi/policy/proxy") as {
    unknownCheckingProxy<T extends object>(o: T): T;
    unknownStringValue: unknown;
};

const STACK_URN = "urn:pulumi:test::hardened-hosts::pulumi:pulumi:Stack::hardened-hosts-test";

/** A stack resource with a real-looking URN (parent types chained with `$`). */
function res(type: string, name: string, props: Record<string, any> = {}, parent?: StackResourceView): StackResourceView {
    const chain = (r: StackResourceView | undefined): string[] => (r ? [...chain(r.parent), r.type] : []);
    const urn = `urn:pulumi:test::hardened-hosts::${[...chain(parent), type].join("$")}::${name}`;
    return { type, name, urn, props, parent };
}

/** The same resource as a resource policy sees it: parent by URN only. */
function view(r: StackResourceView): ResourceView {
    return { type: r.type, name: r.name, urn: r.urn, props: r.props, parentUrn: r.parent?.urn ?? STACK_URN };
}

const messages = (fs: Finding[]) => fs.map((f) => f.message);

/** A HardenedHost with its children as the library builds them (commands via scriptCommandLine). */
function hostWithRuntime(name: string, runtime: { mode: string; user?: string }, sudo = false) {
    const host = res(TYPES.hardenedHost, name);
    if (runtime.mode === "userns-remap") {
        const remap = res(TYPES.dockerUsernsRemap, `${name}-docker`, {}, host);
        const cmd = res(TYPES.hostWork, `${name}-docker-daemon`, {
            create: scriptCommandLine(["apply", "--user", runtime.user ?? "dockremap", "--options", '{"live-restore":true}', "--install", "yes", "--require-no-containers", "no"], sudo),
        }, remap);
        return [host, remap, cmd];
    }
    const rootless = res(TYPES.rootlessRuntime, `${name}-${runtime.mode}`, {}, host);
    const cmd = res(TYPES.hostWork, `${name}-${runtime.mode}-runtime`, {
        create: scriptCommandLine(["apply", "--mode", runtime.mode, "--user", runtime.user ?? "", "--create-user", "yes", "--install", "yes",
            "--restrict-shell", "no", "--expect-range", "2147483648:65536"], sudo),
    }, rootless);
    return [host, rootless, cmd];
}

/** A SubidLedger's state as the engine sees it after the provider's check (the project's planLedger). */
function ledger(name: string, owners: string[], extra: { pool?: { start: number; end: number } } = {}) {
    const inputs = { scope: name, requests: owners.map((owner) => ({ owner })), ...extra };
    return res(TYPES.subidLedger, name, { ...inputs, ...planLedger(undefined, inputs) });
}

/** A HostSubids and its write command (`bash -s -- apply owner:start:count ...`). */
function hostSubids(name: string, lines: string[], sudo = false) {
    const component = res(TYPES.hostSubids, name);
    const write = res(TYPES.hostWork, `${name}-write`, { create: scriptCommandLine(["apply", ...lines], sudo), script: "subids/subids-host.sh", scriptDigest: "sha256:0123456789abcdef" }, component);
    return [component, write];
}

const linesOf = (state: StackResourceView, owners?: string[]) =>
    Object.entries(state.props["allocation"] as Record<string, { start: number; count: number }>)
        .filter(([o]) => !owners || owners.includes(o))
        .map(([o, r]) => `${o}:${r.start}:${r.count}`);

describe("policy pack: checks (direct)", function () {
    describe("command lines", function () {
        it("splits what shellJoin writes, quotes and sudo included", function () {
            assert.deepEqual(shellWords(`sudo -n bash -s -- apply --options '{"a":"it'"'"'s"}' "x y" a\\ b`),
                ["sudo", "-n", "bash", "-s", "--", "apply", "--options", `{"a":"it's"}`, "x y", "a b"]);
            assert.deepEqual(hostScriptArgs(scriptCommandLine(["apply", "machine$:2147483648:65536"], true)), ["apply", "machine$:2147483648:65536"]);
            assert.equal(hostScriptArgs("uname -a"), undefined);
            assert.equal(hostScriptArgs("bash -s -- 'unterminated"), undefined);
        });
    });

    describe("hardened-host-runtime", function () {
        it("passes userns-remap, docker-rootless and podman hosts, with or without sudo", function () {
            const stack = [
                ...hostWithRuntime("a", { mode: "userns-remap" }),
                ...hostWithRuntime("b", { mode: "docker-rootless", user: "builder" }, true),
                ...hostWithRuntime("c", { mode: "podman", user: "ci" }),
            ];
            assert.deepEqual(checkHardenedHostRuntimes(stack), []);
        });

        it("flags a HardenedHost with no runtime below it, naming the host and the field", function () {
            const bare = res(TYPES.hardenedHost, "bare");
            // A runtime elsewhere in the stack (not below this host) does not count.
            const stack = [bare, ...hostWithRuntime("other", { mode: "podman", user: "ci" })];
            const findings = checkHardenedHostRuntimes(stack);
            assert.equal(findings.length, 1);
            assert.equal(findings[0]!.urn, bare.urn);
            assert.match(findings[0]!.message, /^HardenedHost "bare": runtime: none below it/);
        });

        it("flags a runtime command that sets up another mode, on the runtime component", function () {
            const [host, rt, cmd] = hostWithRuntime("r", { mode: "docker-rootful", user: "ops" });
            const findings = checkHardenedHostRuntimes([host!, rt!, cmd!]);
            assert.equal(findings.length, 1);
            assert.equal(findings[0]!.urn, rt!.urn);
            assert.match(findings[0]!.message, /HardenedHost "r": runtime: RootlessRuntime "r-docker-rootful" sets up "docker-rootful", not one of "userns-remap", "docker-rootless", "podman"/);
        });

        it("flags userns-remap onto root, a missing --mode and a runtime without its command", function () {
            const [h1, r1, c1] = hostWithRuntime("root-remap", { mode: "userns-remap", user: "root" });
            const h2 = res(TYPES.hardenedHost, "no-mode");
            const r2 = res(TYPES.rootlessRuntime, "no-mode-podman", {}, h2);
            const c2 = res(TYPES.hostWork, "no-mode-podman-runtime", { create: "bash -s -- apply --user ci" }, r2);
            const h3 = res(TYPES.hardenedHost, "no-cmd");
            const r3 = res(TYPES.dockerUsernsRemap, "no-cmd-docker", {}, h3);
            const got = messages(checkHardenedHostRuntimes([h1!, r1!, c1!, h2, r2, c2, h3, r3]));
            assert.equal(got.length, 3);
            assert.match(got[0]!, /HardenedHost "root-remap": runtime: HostWork "root-remap-docker-daemon" create: --user "root"/);
            assert.match(got[1]!, /HardenedHost "no-mode": runtime: HostWork "no-mode-podman-runtime" create: "apply" without --mode/);
            assert.match(got[2]!, /HardenedHost "no-cmd": runtime: DockerUsernsRemap "no-cmd-docker": has no command/);
        });

        it("passes a kubelet-userns range kubelet accepts; flags one it would refuse (alignment, room for maxPods)", function () {
            const kube = (name: string, range: string, ids: number, pods: number) => {
                const host = res(TYPES.hardenedHost, name);
                const rt = res(TYPES.kubeletUserns, `${name}-kubelet-userns`, {}, host);
                const cmd = res(TYPES.hostWork, `${name}-kubelet-userns-runtime`,
                    { create: `bash -s -- apply --range ${range} --ids-per-pod ${ids} --max-pods ${pods} --config-dir /etc/kubernetes/kubelet.conf.d --restart-kubelet no --kubelet-unit kubelet` }, rt);
                return [host, rt, cmd];
            };
            assert.deepEqual(checkHardenedHostRuntimes(kube("ok", "2147614720:1048576", 131072, 8)), []);
            const got = messages(checkHardenedHostRuntimes([...kube("odd", "2147549184:1048576", 131072, 8), ...kube("small", "2147483648:983040", 65536, 16)]));
            assert.equal(got.length, 2);
            assert.match(got[0]!, /HardenedHost "odd": runtime: HostWork "odd-kubelet-userns-runtime" create: --range 2147549184:1048576 is not one kubelet accepts with idsPerPod 131072 and maxPods 8/);
            assert.match(got[1]!, /HardenedHost "small": .*count at least 1048576/);
        });

        it("does not judge a runtime whose command line is unknown yet (preview)", function () {
            const host = res(TYPES.hardenedHost, "p");
            const rt = res(TYPES.rootlessRuntime, "p-podman", {}, host);
            const cmd = res(TYPES.hostWork, "p-podman-runtime", unknownCheckingProxy({ create: unknownStringValue }), rt);
            assert.deepEqual(checkHardenedHostRuntimes([host, rt, cmd]), []);
        });
    });

    describe("subid-ranges-in-bounds", function () {
        it("passes what the project's allocator hands out, and the HostSubids lines written from it", function () {
            const l = ledger("fleet-subids", ["dockremap", "tenant-a", "tenant-b"]);
            assert.deepEqual(checkRangeBounds(view(l)), []);
            const [, write] = hostSubids("host-a-subids", linesOf(l), true);
            assert.deepEqual(checkRangeBounds(view(write!)), []);
        });

        it("flags an allocation below 65536, naming the ledger and the owner", function () {
            const l = ledger("low", ["lowuser"], { pool: { start: 0, end: 1048576 } });
            assert.deepEqual(messages(checkRangeBounds(view(l))),
                [`SubidLedger "low" allocation.lowuser: range 0-65535 starts below 65536: IDs 0-65535 belong to the host's own users and groups`]);
        });

        it("flags short ranges, ranges reaching 4294967295 and bad retired ranges (the library's containerRangeProblem)", function () {
            const l = res(TYPES.subidLedger, "hand", {
                allocation: {
                    small: { start: 2147483648, count: 4096 },
                    top: { start: 4294901760, count: 65536 }, // last ID 4294967295 = (uid_t)-1
                    last: { start: 4294901759, count: 65536 }, // last ID 4294967294: fine
                },
                retired: { gone: { start: 1000, count: 65536 } },
            });
            const got = messages(checkRangeBounds(view(l)));
            assert.equal(got.length, 3, got.join("\n"));
            assert.match(got[0]!, /^SubidLedger "hand" allocation\.small: count 4096 is below 65536/);
            assert.match(got[1]!, /^SubidLedger "hand" allocation\.top: range ends past 4294967294, the last valid ID/);
            assert.match(got[2]!, /^SubidLedger "hand" retired\.gone: range 1000-66535 starts below 65536/);
        });

        it("reads HostSubids lines from the write command's create, and flags lines that do not parse", function () {
            const [, write] = hostSubids("host-c-subids", ["carol:3221225472:65536", "erin:4294901760:65536", "junk"]);
            const got = messages(checkRangeBounds(view(write!)));
            assert.deepEqual(got, [
                `HostSubids "host-c-subids" (HostWork "host-c-subids-write" create): "junk" is not an owner:start:count line`,
                `HostSubids "host-c-subids" (HostWork "host-c-subids-write" create) line "erin:4294901760:65536": range ends past 4294967294, the last valid ID`,
            ]);
        });

        it("reads the lines after the write command's options (--system OWNER, --docker-config FILE)", function () {
            const [, write] = hostSubids("host-d-subids", ["--system", "dockremap", "--docker-config", "/etc/docker/daemon.json", "dockremap:1000:1", "tenant-a:3221225472:65536"]);
            assert.deepEqual(messages(checkRangeBounds(view(write!))), [
                `HostSubids "host-d-subids" (HostWork "host-d-subids-write" create) line "dockremap:1000:1": count 1 is below 65536: images expect UIDs 0-65535`,
            ]);
        });

        it("reads a stack made before #29 the same (its write step a remote Command with the script as stdin)", function () {
            const component = res(TYPES.hostSubids, "host-l-subids");
            const write = res(TYPES.remoteCommand, "host-l-subids-write", { create: scriptCommandLine(["apply", "tenant-a:1000:65536"], false), stdin: "#!/usr/bin/env bash\n" }, component);
            assert.deepEqual(messages(checkRangeBounds(view(write))), [
                `HostSubids "host-l-subids" (Command "host-l-subids-write" create) line "tenant-a:1000:65536": range 1000-66535 starts below 65536: IDs 0-65535 belong to the host's own users and groups`,
            ]);
        });

        it("ignores other commands, even with the same arguments", function () {
            const cmd = res(TYPES.hostWork, "unrelated", { create: "bash -s -- apply erin:0:1" });
            assert.deepEqual(checkRangeBounds(view(cmd)), []);
        });
    });

    describe("subid-ranges-disjoint", function () {
        it("passes one fleet ledger with the HostSubids lines written from it (the same grants twice)", function () {
            const l = ledger("fleet-subids", ["alice", "dockremap", "tenant-a", "tenant-b"]);
            const stack = [l, ...hostSubids("host-a-subids", linesOf(l, ["dockremap", "tenant-a"])), ...hostSubids("host-b-subids", linesOf(l, ["alice", "tenant-a"]), true)];
            assert.deepEqual(checkRangeOverlaps(stack), []);
        });

        it("flags two ledgers handing out the same range to different owners, naming both", function () {
            const a = ledger("team-a", ["alice"]);
            const b = ledger("team-b", ["bob"]);
            const got = checkRangeOverlaps([a, b]);
            assert.equal(got.length, 1);
            assert.match(got[0]!.message, /SubidLedger "team-(a|b)" allocation\.(alice|bob) 2147483648-2147549183 overlaps SubidLedger "team-(a|b)" allocation\.(alice|bob) 2147483648-2147549183/);
            assert.ok([a.urn, b.urn].includes(got[0]!.urn!));
        });

        it("flags overlapping lines of one host and a range overlapping a retired one; adjacent ranges are fine", function () {
            const [c, write] = hostSubids("host-c-subids", ["carol:3221225472:65536", "dave:3221229568:65536", "frank:3221291008:65536"]);
            const l = res(TYPES.subidLedger, "fleet-subids", {
                allocation: { new: { start: 2147483648, count: 131072 } },
                retired: { old: { start: 2147549184, count: 65536 } },
            });
            const got = checkRangeOverlaps([c!, write!, l]);
            assert.deepEqual(messages(got), [
                `SubidLedger "fleet-subids" retired.old 2147549184-2147614719 overlaps SubidLedger "fleet-subids" allocation.new 2147483648-2147614719: subordinate ranges must never overlap`,
                `HostSubids "host-c-subids" (HostWork "host-c-subids-write" create) line "dave:3221229568:65536" 3221229568-3221295103 overlaps HostSubids "host-c-subids" (HostWork "host-c-subids-write" create) line "carol:3221225472:65536" 3221225472-3221291007: subordinate ranges must never overlap`,
                // frank starts right after carol ends, but inside dave.
                `HostSubids "host-c-subids" (HostWork "host-c-subids-write" create) line "frank:3221291008:65536" 3221291008-3221356543 overlaps HostSubids "host-c-subids" (HostWork "host-c-subids-write" create) line "dave:3221229568:65536" 3221229568-3221295103: subordinate ranges must never overlap`,
            ]);
            assert.equal(got[1]!.urn, write!.urn);
        });

        it("skips unknown allocations (preview) instead of failing the whole stack", function () {
            const l = res(TYPES.subidLedger, "later", unknownCheckingProxy({ allocation: unknownStringValue, retired: unknownStringValue }));
            assert.deepEqual(checkRangeOverlaps([l, ledger("fleet", ["a"])]), []);
        });

        it("sweeps 20000 owners (a fleet ledger and the host lines written from it) without pairwise work", function () {
            this.timeout(10_000);
            const owners = Array.from({ length: 20000 }, (_, i) => `t${i}`);
            const l = ledger("big", owners);
            assert.deepEqual(checkRangeOverlaps([l, ...hostSubids("host-a-subids", linesOf(l))]), []);
        });
    });

    describe("ssh-not-open-to-internet", function () {
        const sg = (ingress: any[]) => view(res(TYPES.securityGroup, "web-ssh", { ingress }));
        const ssh = (extra: Record<string, unknown>) => ({ protocol: "tcp", fromPort: 22, toPort: 22, ...extra });

        it("passes SSH from listed networks (what Ec2Machine builds) and other ports from anywhere", function () {
            assert.deepEqual(checkSshIngress(sg([ssh({ cidrBlocks: ["198.51.100.0/24"], ipv6CidrBlocks: ["2001:db8:1234::/48"] })])), []);
            assert.deepEqual(checkSshIngress(sg([{ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] }])), []);
            assert.deepEqual(checkSshIngress(sg([{ protocol: "udp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"] }])), []);
        });

        it("flags 0.0.0.0/0 and ::/0 on 22, on port ranges containing 22 and on all traffic, naming the field", function () {
            const got = messages(checkSshIngress(sg([
                ssh({ cidrBlocks: ["10.0.0.0/8", "0.0.0.0/0"] }),
                ssh({ ipv6CidrBlocks: ["::/0"] }),
                { protocol: "tcp", fromPort: 0, toPort: 65535, cidrBlocks: ["0.0.0.0/0"] },
                { protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] },
            ])));
            assert.deepEqual(got, [
                `SecurityGroup "web-ssh" ingress[0].cidrBlocks[1]: "0.0.0.0/0" opens SSH (22/tcp) to the whole Internet`,
                `SecurityGroup "web-ssh" ingress[1].ipv6CidrBlocks[0]: "::/0" opens SSH (22/tcp) to the whole Internet`,
                `SecurityGroup "web-ssh" ingress[2].cidrBlocks[0]: "0.0.0.0/0" opens SSH (22/tcp) to the whole Internet`,
                `SecurityGroup "web-ssh" ingress[3].cidrBlocks[0]: "0.0.0.0/0" opens SSH (22/tcp) to the whole Internet`,
            ]);
        });

        it("flags blocks shorter than Ec2Machine's /8 (IPv4) and /16 (IPv6), e.g. the 0.0.0.0/1 + 128.0.0.0/1 trick", function () {
            const got = messages(checkSshIngress(sg([ssh({ cidrBlocks: ["0.0.0.0/1", "128.0.0.0/1"], ipv6CidrBlocks: ["2000::/3"] })])));
            assert.equal(got.length, 3);
            assert.match(got[0]!, /ingress\[0\]\.cidrBlocks\[0\]: "0\.0\.0\.0\/1" opens SSH \(22\/tcp\) to a large part of the Internet \(prefixes shorter than \/8/);
            assert.match(got[2]!, /ingress\[0\]\.ipv6CidrBlocks\[0\]: "2000::\/3" .*shorter than \/16/);
        });

        it("covers DefaultSecurityGroup, SecurityGroupRule (ingress only) and vpc SecurityGroupIngressRule", function () {
            const dsg = view(res(TYPES.defaultSecurityGroup, "default", { ingress: [ssh({ cidrBlocks: ["0.0.0.0/0"] })] }));
            assert.match(messages(checkSshIngress(dsg))[0]!, /^DefaultSecurityGroup "default" ingress\[0\]\.cidrBlocks\[0\]/);
            const rule = (type: string) => view(res(TYPES.securityGroupRule, `rule-${type}`, { type, protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"] }));
            assert.deepEqual(messages(checkSshIngress(rule("ingress"))), [
                `SecurityGroupRule "rule-ingress" cidrBlocks[0]: "0.0.0.0/0" opens SSH (22/tcp) to the whole Internet`,
                `SecurityGroupRule "rule-ingress" ipv6CidrBlocks[0]: "::/0" opens SSH (22/tcp) to the whole Internet`,
            ]);
            assert.deepEqual(checkSshIngress(rule("egress")), []);
            const vpc = (props: Record<string, unknown>) => checkSshIngress(view(res(TYPES.securityGroupIngressRule, "in", props)));
            assert.deepEqual(messages(vpc({ ipProtocol: "tcp", fromPort: 22, toPort: 22, cidrIpv4: "0.0.0.0/0" })),
                [`SecurityGroupIngressRule "in" cidrIpv4: "0.0.0.0/0" opens SSH (22/tcp) to the whole Internet`]);
            assert.deepEqual(messages(vpc({ ipProtocol: "-1", cidrIpv6: "::/0" })),
                [`SecurityGroupIngressRule "in" cidrIpv6: "::/0" opens SSH (22/tcp) to the whole Internet`]);
            assert.deepEqual(vpc({ ipProtocol: "tcp", fromPort: 22, toPort: 22, cidrIpv4: "203.0.113.7/32" }), []);
        });

        it("reads protocols and CIDRs as AWS does", function () {
            assert.equal(coversSsh("TCP", 20, 25), true);
            assert.equal(coversSsh("6", 22, 22), true);
            assert.equal(coversSsh("all", undefined, undefined), true);
            assert.equal(coversSsh("tcp", 23, 80), false);
            assert.equal(coversSsh("icmp", -1, -1), false);
            assert.equal(worldOpenProblem("not a cidr"), undefined);
            assert.equal(worldOpenProblem("192.0.2.0/24"), undefined);
            assert.match(worldOpenProblem("::0/0") ?? "", /whole Internet/);
        });
    });

    describe("ec2-imdsv2-required", function () {
        const instance = (props: Record<string, unknown>, type: string = TYPES.instance) => checkImdsV2(view(res(type, "web-instance", props)));

        it("passes httpTokens required (what Ec2Machine sets)", function () {
            assert.deepEqual(instance({ metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 } }), []);
        });

        it("flags optional or missing httpTokens on instances and launch templates, naming the field", function () {
            assert.deepEqual(messages(instance({ metadataOptions: { httpTokens: "optional" } })),
                [`Instance "web-instance" metadataOptions.httpTokens is "optional"; it must be "required" (IMDSv2 only)`]);
            assert.deepEqual(messages(instance({})),
                [`Instance "web-instance" metadataOptions.httpTokens is not set (IMDSv1 stays allowed); it must be "required" (IMDSv2 only)`]);
            assert.match(messages(instance({ metadataOptions: {} }, TYPES.launchTemplate))[0]!, /^LaunchTemplate "web-instance" metadataOptions\.httpTokens is not set/);
            assert.deepEqual(instance({}, "aws:s3/bucket:Bucket"), []);
        });
    });

    describe("the pack", function () {
        it("has five mandatory policies with unique names", function () {
            assert.deepEqual(pack.policies.map((p) => p.name),
                ["hardened-host-runtime", "subid-ranges-disjoint", "subid-ranges-in-bounds", "ssh-not-open-to-internet", "ec2-imdsv2-required"]);
            for (const p of pack.policies) assert.equal(p.enforcementLevel, "mandatory", p.name);
        });

        it("resource policies report each finding's message; stack policies report it on the resource's URN", async function () {
            const reported: [string, string | undefined][] = [];
            const report: ReportViolation = (message, urn) => { reported.push([message, urn]); };
            const args = {
                type: TYPES.instance, name: "i", urn: "urn:pulumi:test::p::aws:ec2/instance:Instance::i",
                props: { metadataOptions: { httpTokens: "optional" } }, opts: { parent: STACK_URN },
            } as unknown as ResourceValidationArgs;
            await pack.ec2Imdsv2Required.validateResource(args, report);
            assert.deepEqual(reported, [[`Instance "i" metadataOptions.httpTokens is "optional"; it must be "required" (IMDSv2 only)`, undefined]]);

            reported.length = 0;
            const bare = res(TYPES.hardenedHost, "bare");
            await pack.hardenedHostRuntime.validateStack({ resources: [bare] } as unknown as StackValidationArgs, report);
            assert.equal(reported.length, 1);
            assert.equal(reported[0]![1], bare.urn);

            reported.length = 0;
            const [, write] = hostSubids("host-c-subids", ["carol:1000:65536"]);
            const w = view(write!);
            await pack.subidRangesInBounds.validateResource({ ...w, opts: { parent: w.parentUrn } } as unknown as ResourceValidationArgs, report);
            assert.match(reported[0]![0], /^HostSubids "host-c-subids" \(HostWork "host-c-subids-write" create\) line "carol:1000:65536": range 1000-66535 starts below 65536/);
        });

        it("PulumiPolicy.yaml and package.json agree on the version, the type tokens match the components", function () {
            const dir = path.join(repoRoot, "policy");
            const yamlVersion = /^version: (\S+)$/m.exec(fs.readFileSync(path.join(dir, "PulumiPolicy.yaml"), "utf8"))?.[1];
            assert.equal(yamlVersion, JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).version);
            assert.match(fs.readFileSync(path.join(dir, "PulumiPolicy.yaml"), "utf8"), /^runtime: nodejs$/m);
            const source = (f: string) => fs.readFileSync(path.join(repoRoot, "components", f), "utf8");
            assert.ok(source("fleet/hardened-host.ts").includes(`"${TYPES.hardenedHost}"`));
            assert.ok(source("docker/remap.ts").includes(`"${TYPES.dockerUsernsRemap}"`));
            assert.ok(source("rootless/runtime.ts").includes(`"${TYPES.rootlessRuntime}"`));
            assert.ok(source("subids/host-subids.ts").includes(`"${TYPES.hostSubids}"`));
            assert.match(source("subids/ledger.ts"), /"subids",\s*"SubidLedger"/);
        });
    });
});
