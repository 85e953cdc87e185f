/**
 * The EC2 images an `Ec2Machine` can run, as plain data (no Pulumi or AWS SDK), so config
 * parsing can check a distribution without loading the providers.
 */

/** The distributions an `Ec2Machine` can run (x86_64 images). */
export type Ec2Distro = "debian-12" | "ubuntu-24.04" | "amazon-linux-2023";

/** How each distribution's image is found, and who logs in. */
export interface DistroImage {
    /** AMI owner (account ID or alias). */
    owner: string;
    /** AMI `name` filter (wildcards allowed). */
    namePattern: string;
    /** The image's default login user; it has password-less sudo. */
    loginUser: string;
}

/** Official images: the newest matching x86_64 HVM EBS image of the distribution's own account. */
export const DISTRO_IMAGES: Readonly<Record<Ec2Distro, DistroImage>> = {
    "debian-12": { owner: "136693071363", namePattern: "debian-12-amd64-*", loginUser: "admin" },
    "ubuntu-24.04": {
        owner: "099720109477",
        namePattern: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*",
        loginUser: "ubuntu",
    },
    "amazon-linux-2023": { owner: "amazon", namePattern: "al2023-ami-2023.*-x86_64", loginUser: "ec2-user" },
};

/** Tag on everything an `Ec2Machine` creates (always `"true"`; a caller's value is replaced). */
export const MANAGED_TAG = "hardened-hosts:managed";
