import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { HostConnection, commandConnection } from "../host/connection";
import { Problems, componentError } from "../host/validate";
import {
    distroProblem, ec2PublicKeyProblem, instanceTypeProblem, parseSshCidr, privateKeyProblem, rootVolumeProblem, sshCidrsProblem,
    subnetIdProblem, tagProblem, vpcIdProblem,
} from "./checks";
import { DISTRO_IMAGES, DistroImage, Ec2Distro, MANAGED_TAG } from "./distros";

export type { DistroImage, Ec2Distro } from "./distros";
export { DISTRO_IMAGES, MANAGED_TAG } from "./distros";

/** The AMI query for a distribution (`aws.ec2.getAmi` arguments). */
export function amiQuery(distro: Ec2Distro): aws.ec2.GetAmiArgs {
    const image = DISTRO_IMAGES[distro];
    return {
        owners: [image.owner],
        mostRecent: true,
        filters: [
            { name: "name", values: [image.namePattern] },
            { name: "architecture", values: ["x86_64"] },
            { name: "virtualization-type", values: ["hvm"] },
            { name: "root-device-type", values: ["ebs"] },
            { name: "state", values: ["available"] },
        ],
    };
}

/**
 * How long `ready` waits for SSH: up to `dialErrorLimit` failed dials (count) of up to
 * `perDialTimeout` seconds each, with the provider's back-off between them (100 ms growing to at
 * most 5 s). Dials that time out (an instance still booting drops packets): at most about
 * 40 × (15 s + 5 s) ≈ 13 minutes; dials refused at once (sshd not up yet): about 2.5 minutes.
 * Enough for a first boot, bounded so a machine that never answers fails the update.
 */
export const SSH_READY_DIAL = { dialErrorLimit: 40, perDialTimeout: 15 } as const;

/** The command `ready` runs: wait for cloud-init to finish first boot (never fails on it). */
export const SSH_READY_COMMAND = "cloud-init status --wait >/dev/null 2>&1 || true; echo ready";

/** Arguments of {@link Ec2Machine}. */
export interface Ec2MachineArgs {
    /** The distribution (official x86_64 image, newest at creation time). Required. */
    distro: Ec2Distro;
    /** EC2 instance type; must be x86_64 (the images are amd64). Default `t3.small`. */
    instanceType?: pulumi.Input<string>;
    /**
     * Subnet to launch in (`subnet-...`). Default: a default-for-AZ subnet of the default VPC (or,
     * when `vpcId` is given, a subnet of that VPC), the first by ID.
     */
    subnetId?: pulumi.Input<string>;
    /**
     * VPC of the security group (`vpc-...`). Default: the VPC of `subnetId`, or the default VPC
     * when no subnet is given.
     */
    vpcId?: pulumi.Input<string>;
    /**
     * Networks (CIDR blocks, IPv4 and/or IPv6) allowed to reach SSH (22/tcp), the only inbound
     * port. Required and non-empty: `0.0.0.0/0`, `::/0` and anything broader than /8 (IPv4) or
     * /16 (IPv6) are refused, as are blocks with host bits set.
     */
    sshCidrs: pulumi.Input<string[]>;
    /** OpenSSH public key (`ssh-ed25519 ...` or `ssh-rsa ...`) for the EC2 key pair. Required. */
    publicKey: pulumi.Input<string>;
    /** The matching private key (OpenSSH or PEM), for the connection. Stored as a secret. Required. */
    privateKey: pulumi.Input<string>;
    /** Size of the encrypted gp3 root volume, in GiB (8 to 16384). Default 16. */
    rootVolumeGiB?: pulumi.Input<number>;
    /**
     * Tags for the instance, key pair and security group. `Name` defaults to the component name;
     * `hardened-hosts:managed = "true"` is always set. Default none.
     */
    tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /**
     * Give the instance a public IPv4 address; the connection uses it (else the private IP, for
     * runs from inside the VPC). Default true.
     */
    associatePublicIp?: pulumi.Input<boolean>;
}

/**
 * One EC2 instance made ready to be hardened: official image, IMDSv2 only, encrypted gp3 root
 * volume, SSH (22/tcp) reachable only from `sshCidrs`, nothing else inbound. `ready` completes
 * once SSH answers and cloud-init has finished; make host work depend on it.
 *
 * The image is chosen when the instance is created and then kept (`ignoreChanges: ["ami"]`): a
 * newer image does not replace a running host. Use `pulumi up --replace <instance URN>` to move.
 *
 * The host key is not known in advance: the first connection trusts the key the instance presents.
 *
 * Host work runs over SSH, not from cloud-init user data: EC2 takes at most 16 KiB of user data,
 * and the scripts a host needs do not fit even gzip'd (`gzip -9`: subids-host.sh + docker-remap.sh
 * 17,799 bytes, subids-host.sh + rootless.sh 20,820 bytes, as measured when this was written).
 *
 * Renames: the type token (`hardened-hosts:machines:Ec2Machine`) and child names (`<name>-key`,
 * `-ssh`, `-instance`, `-ssh-ready`) are in every URN; renaming one needs `aliases`, or the
 * instance is replaced. None has been renamed since the first commit.
 */
export class Ec2Machine extends pulumi.ComponentResource {
    /** The SSH connection, field by field (what `HardenedHost` and the host components take). */
    public readonly hostConnection: HostConnection;
    /** The same connection as one Output (secret: it holds the private key). */
    public readonly connection: pulumi.Output<HostConnection>;
    /** The EC2 instance ID (`i-...`). */
    public readonly instanceId: pulumi.Output<string>;
    /** Public IPv4 address; empty without one. */
    public readonly publicIp: pulumi.Output<string>;
    /** Private IPv4 address in the subnet. */
    public readonly privateIp: pulumi.Output<string>;
    /** The login user of the distribution (with sudo). */
    public readonly loginUser: string;
    /** The image the instance was created from (newer ones are ignored, see above). */
    public readonly amiId: pulumi.Output<string>;
    /** The security group that lets SSH in from `sshCidrs` only. */
    public readonly securityGroupId: pulumi.Output<string>;
    /** Completes when SSH answers and cloud-init is done: put it in `dependsOn` of host work. */
    public readonly ready: command.remote.Command;

    constructor(name: string, args: Ec2MachineArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hardened-hosts:machines:Ec2Machine", name, {}, opts);
        // Every problem of the arguments at once, before anything is registered (plain values;
        // Outputs when they resolve).
        const problems = new Problems(this);
        problems.add("distro", distroProblem(args.distro));
        const sshCidrs = problems.check("sshCidrs", args.sshCidrs, sshCidrsProblem);
        const publicKey = problems.check("publicKey", args.publicKey, ec2PublicKeyProblem);
        const privateKey = pulumi.secret(problems.check("privateKey", args.privateKey, privateKeyProblem));
        const rootVolumeGiB = problems.check("rootVolumeGiB", args.rootVolumeGiB ?? 16, rootVolumeProblem);
        const instanceType = problems.check("instanceType", args.instanceType ?? "t3.small", instanceTypeProblem);
        const subnetIdArg = args.subnetId === undefined ? undefined : problems.check("subnetId", args.subnetId, subnetIdProblem);
        const vpcIdArg = args.vpcId === undefined ? undefined : problems.check("vpcId", args.vpcId, vpcIdProblem);
        // Tags: checked at once when given as plain values, else when they resolve.
        const tagsProblem = (t: Record<string, unknown>): string | undefined => {
            if (t === null || typeof t !== "object" || Array.isArray(t)) return "must be an object of tag keys to string values";
            for (const [k, v] of Object.entries(t)) {
                const why = tagProblem(k, v);
                if (why !== undefined) return `${JSON.stringify(k)}: ${why}`;
            }
            return undefined;
        };
        const plainTags = args.tags !== undefined && !pulumi.Output.isInstance(args.tags) && !(args.tags instanceof Promise) &&
            Object.values(args.tags).every((v) => !pulumi.Output.isInstance(v) && !(v instanceof Promise));
        if (plainTags) problems.add("tags", tagsProblem(args.tags as Record<string, unknown>));
        problems.throwIfAny();

        const image: DistroImage = DISTRO_IMAGES[args.distro];
        this.loginUser = image.loginUser;
        const invokeOpts: pulumi.InvokeOutputOptions = { parent: this };
        const tags = problems.check("tags", pulumi.output(args.tags ?? {}), tagsProblem)
            .apply((t) => ({ Name: name, ...t, [MANAGED_TAG]: "true" }));

        // Where: the given subnet (its VPC), or a subnet of the given / default VPC.
        let vpcId: pulumi.Output<string>;
        let subnetId: pulumi.Output<string>;
        if (subnetIdArg !== undefined) {
            subnetId = subnetIdArg;
            vpcId = vpcIdArg ?? aws.ec2.getSubnetOutput({ id: subnetIdArg }, invokeOpts).vpcId;
        } else {
            const defaultVpc = vpcIdArg === undefined;
            vpcId = vpcIdArg ?? aws.ec2.getVpcOutput({ default: true }, invokeOpts).id;
            const filters: aws.types.input.ec2.GetSubnetsFilterArgs[] = [{ name: "vpc-id", values: [vpcId] }];
            if (defaultVpc) filters.push({ name: "default-for-az", values: ["true"] });
            subnetId = pulumi.all([aws.ec2.getSubnetsOutput({ filters }, invokeOpts).ids, vpcId]).apply(([ids, vpc]) => {
                const first = [...(ids ?? [])].sort()[0];
                if (first === undefined) {
                    throw componentError(`subnetId: not given, and VPC ${vpc} has no ${defaultVpc ? "default-for-AZ " : ""}subnet`, this);
                }
                return first;
            });
        }

        const ami = aws.ec2.getAmiOutput(amiQuery(args.distro), invokeOpts);

        const keyPair = new aws.ec2.KeyPair(`${name}-key`, { publicKey, tags }, { parent: this });

        const sg = new aws.ec2.SecurityGroup(`${name}-ssh`, {
            vpcId,
            description: "hardened-hosts: SSH from listed networks only",
            ingress: [sshCidrs.apply((cidrs) => {
                const parsed = cidrs.map((c) => ({ c, p: parseSshCidr(c) }));
                const v4 = parsed.filter((x) => typeof x.p !== "string" && x.p.family === 4).map((x) => x.c);
                const v6 = parsed.filter((x) => typeof x.p !== "string" && x.p.family === 6).map((x) => x.c);
                return {
                    description: "SSH from sshCidrs",
                    protocol: "tcp",
                    fromPort: 22,
                    toPort: 22,
                    cidrBlocks: v4.length > 0 ? v4 : undefined,
                    ipv6CidrBlocks: v6.length > 0 ? v6 : undefined,
                };
            })],
            egress: [{
                description: "all outbound (packages, images)",
                protocol: "-1",
                fromPort: 0,
                toPort: 0,
                cidrBlocks: ["0.0.0.0/0"],
                ipv6CidrBlocks: ["::/0"],
            }],
            tags,
        }, { parent: this });
        this.securityGroupId = sg.id;

        const instance = new aws.ec2.Instance(`${name}-instance`, {
            ami: ami.id,
            instanceType,
            subnetId,
            vpcSecurityGroupIds: [sg.id],
            keyName: keyPair.keyName,
            associatePublicIpAddress: args.associatePublicIp ?? true,
            metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
            rootBlockDevice: { encrypted: true, volumeType: "gp3", volumeSize: rootVolumeGiB },
            tags,
        }, { parent: this, ignoreChanges: ["ami"] });
        this.instanceId = instance.id;
        this.amiId = instance.ami;
        this.publicIp = instance.publicIp;
        this.privateIp = instance.privateIp;

        this.hostConnection = {
            host: pulumi.all([instance.publicIp, instance.privateIp]).apply(([pub, priv]) => pub || priv),
            port: 22,
            user: image.loginUser,
            privateKey,
            sudo: true,
        };
        this.connection = pulumi.output(this.hostConnection);

        this.ready = new command.remote.Command(`${name}-ssh-ready`, {
            connection: pulumi.output(commandConnection(this.hostConnection)).apply((c) => ({ ...c, ...SSH_READY_DIAL })),
            create: SSH_READY_COMMAND,
            // A replaced instance is waited for again.
            triggers: [instance.id],
            addPreviousOutputInEnv: false,
        }, { parent: this });

        this.registerOutputs({
            connection: this.connection,
            instanceId: this.instanceId,
            publicIp: this.publicIp,
            privateIp: this.privateIp,
            amiId: this.amiId,
            securityGroupId: this.securityGroupId,
        });
    }
}
