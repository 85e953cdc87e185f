/**
 * The hardened-hosts policies (issue #7), all mandatory: a violation fails `pulumi preview` and
 * `pulumi up`. The checks themselves are plain functions in ./checks.ts.
 *
 * Component resources (HardenedHost, HostSubids, ...) are registered with no inputs (the Node.js
 * SDK never sends a local component's args), so the policies read what the custom resources
 * below them carry: the SubidLedger's checked inputs (`allocation`, `retired`), the
 * `owner:start:count` lines and runtime flags on the host scripts' command lines, and the parent
 * links of the stack's resources.
 */

import type {
    PolicyResource,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
} from "@pulumi/policy";
import {
    Finding,
    ResourceView,
    StackResourceView,
    checkHardenedHostRuntimes,
    checkImdsV2,
    checkRangeBounds,
    checkRangeOverlaps,
    checkSshIngress,
} from "./checks";

/** The resource policy arguments a check reads. */
export function resourceView(args: Pick<ResourceValidationArgs, "type" | "name" | "urn" | "props" | "opts">): ResourceView {
    return { type: args.type, name: args.name, urn: args.urn, props: args.props, parentUrn: args.opts?.parent };
}

/** A resource policy with one validation function (so tests can call it). */
export type SingleResourcePolicy = ResourceValidationPolicy & { validateResource: ResourceValidation };

function resourcePolicy(name: string, description: string, check: (r: ResourceView) => Finding[]): SingleResourcePolicy {
    return {
        name,
        description,
        enforcementLevel: "mandatory",
        validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
            for (const f of check(resourceView(args))) reportViolation(f.message);
        },
    };
}

function stackPolicy(name: string, description: string, check: (rs: readonly StackResourceView[]) => Finding[]): StackValidationPolicy {
    return {
        name,
        description,
        enforcementLevel: "mandatory",
        validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
            const resources: readonly PolicyResource[] = args.resources;
            for (const f of check(resources)) reportViolation(f.message, f.urn);
        },
    };
}

export const hardenedHostRuntime = stackPolicy(
    "hardened-host-runtime",
    "Every HardenedHost runs containers with Docker userns-remap, rootless Docker, rootless Podman, rootful Podman with an automatic user namespace per container (podman-auto), or, on a Kubernetes node, pods in user namespaces from a kubelet range kubelet accepts (kubelet-userns).",
    checkHardenedHostRuntimes,
);

export const subidRangesDisjoint = stackPolicy(
    "subid-ranges-disjoint",
    "No two subordinate ID ranges of the stack overlap (SubidLedger allocations and retired ranges, HostSubids lines).",
    checkRangeOverlaps,
);

export const subidRangesInBounds = resourcePolicy(
    "subid-ranges-in-bounds",
    "Subordinate ID ranges start at 65536 or above, hold at least 65536 IDs and end at or before 4294967294.",
    checkRangeBounds,
);

export const sshNotOpenToInternet = resourcePolicy(
    "ssh-not-open-to-internet",
    "Security group ingress never lets SSH (22/tcp) in from 0.0.0.0/0, ::/0 or blocks shorter than /8 (IPv4) or /16 (IPv6).",
    checkSshIngress,
);

export const ec2Imdsv2Required = resourcePolicy(
    "ec2-imdsv2-required",
    "EC2 instances and launch templates require IMDSv2 (metadataOptions.httpTokens = \"required\").",
    checkImdsV2,
);

/** Every policy of the pack, in the order they are listed. */
export const policies = [hardenedHostRuntime, subidRangesDisjoint, subidRangesInBounds, sshNotOpenToInternet, ec2Imdsv2Required];
