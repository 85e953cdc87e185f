import { inspect } from "node:util";
import * as pulumi from "@pulumi/pulumi";

/**
 * A `pulumi.ResourceError` that prints as its message only. Thrown inside an apply, a plain one
 * is run through util.inspect by the SDK, which walks the whole resource it holds: a failing
 * `pulumi up` then took 19-40 s and printed the resource graph (measured in verification tests).
 */
export function componentError(message: string, resource: pulumi.Resource): pulumi.ResourceError {
    const e = new pulumi.ResourceError(message, resource, true);
    Object.defineProperty(e, inspect.custom, { value: () => `${e.name}: ${e.message}`, enumerable: false });
    return e;
}

/**
 * Collects every problem of a component's arguments, then raises them together as one
 * {@link componentError} (as the SDK's InputPropertiesError reports several properties at once):
 * a user fixes all of them after one preview, not one per run. One problem reads
 * `field: reason`, several `N problems:` with one `field: reason` line each.
 */
export class Problems {
    private readonly list: string[] = [];
    constructor(private readonly resource: pulumi.Resource) {}

    /** Records `reason` for `field` (nothing when reason is undefined). */
    add(field: string, reason: string | undefined): void {
        if (reason !== undefined) this.list.push(`${field}: ${reason}`);
    }

    /** Throws the one error naming every problem, if any was recorded. */
    throwIfAny(): void {
        if (this.list.length === 1) throw componentError(this.list[0]!, this.resource);
        if (this.list.length > 1) throw componentError(`${this.list.length} problems:\n  ${this.list.join("\n  ")}`, this.resource);
    }
}

/**
 * Validates an input as early as possible: a plain value (the usual case, from stack config) is
 * checked right away, so a bad value stops the program with a `pulumi.ResourceError` before any
 * resource is registered; an Output is checked when it resolves.
 */
export function validated<T, R>(input: pulumi.Input<T>, check: (value: T) => R): pulumi.Output<R> {
    if (pulumi.Output.isInstance(input) || input instanceof Promise) {
        return pulumi.output(input).apply((v) => check(v as T));
    }
    // Checks return plain values, for which Unwrap<R> is R.
    return pulumi.output(check(input as T)) as unknown as pulumi.Output<R>;
}

/** Login names as useradd accepts them by default. */
export const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

/** Why `user` cannot be the non-root owner of a runtime, or undefined when it can. */
export function nonRootUserProblem(user: string): string | undefined {
    if (!USER_NAME.test(user) || user === "root") {
        return `${JSON.stringify(user)} is not a valid non-root user name (${USER_NAME.source})`;
    }
    return undefined;
}

/**
 * {@link validated} for one named argument of a component: `problem` says what is wrong (or
 * undefined), and the error names the component and the field, e.g. `range: count 1000 is ...`.
 */
export function validatedField<T>(
    parent: pulumi.Resource,
    field: string,
    input: pulumi.Input<T>,
    problem: (value: T) => string | undefined,
): pulumi.Output<T> {
    return validated(input, (value) => {
        const why = problem(value);
        if (why !== undefined) throw componentError(`${field}: ${why}`, parent);
        return value;
    });
}
