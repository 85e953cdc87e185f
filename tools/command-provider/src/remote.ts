// Running a remote.Command over SSH.
//
// Behaviour of 1.2.1 (provider/pkg/provider/remote/commandOutputs.go), re-implemented:
//   * a fresh connection per run (dial with retries, see ssh.ts), one "exec" session;
//   * every `environment` entry is sent as an SSH "env" request *with a reply*; if the server
//     refuses one (sshd only takes names listed in its AcceptEnv), an error is logged and the
//     run fails with `could not set environment variable "X": ssh: setenv failed` before the
//     command starts;
//   * unless addPreviousOutputInEnv is false, PULUMI_COMMAND_STDOUT/STDERR (previous
//     create/update outputs, only when non-empty) are sent the same way, but a refusal only
//     logs a warning;
//   * stdin = `stdin` when non-empty, then EOF;
//   * failure = `Process exited with status N: running "<command>":\n<output>`.
//
// ssh2's public exec() sends env requests without asking for a reply, so it cannot tell an
// accepted variable from a refused one. `execWithEnv` therefore intercepts, for this one
// connection only, the moment ssh2 is about to send "exec": it sends the env requests with
// want-reply first, waits for the answers, and only then lets "exec" go out (or cancels it).
// This relies on ssh2 1.x internals (`_protocol`, `_chanMgr`, channel `_callbacks`); if they
// are missing, the run fails with a clear message instead of silently dropping variables.

import * as os from "node:os";
import type { Client, ClientChannel } from "ssh2";
import { OutputCapture, runError } from "./capture";
import type { OpContext } from "./log";
import type { Previous } from "./local";
import type { Logging } from "./schema";
import { connectionFrom, dial } from "./ssh";

export interface RemoteInputs {
    connection: unknown;
    stdin?: string;
    logging?: Logging;
    environment?: Record<string, string>;
    addPreviousOutputInEnv?: boolean;
}

export interface RemoteOutputs {
    stdout: string;
    stderr: string;
}

interface EnvVar {
    key: string;
    value: string;
    /** A refused required variable fails the run; others only warn. */
    required: boolean;
}

type ReplyCallback = (hadErr: boolean | Error) => void;
interface Ssh2Channel {
    outgoing?: { id?: number };
    _callbacks?: ReplyCallback[];
    close(): void;
}
interface Ssh2Internals {
    _protocol?: {
        exec?: (id: number, cmd: string, wantReply: boolean) => void;
        env?: (id: number, key: string, val: string, wantReply: boolean) => void;
    };
    _chanMgr?: { _channels?: Record<number, unknown> };
}

const SETENV_HINT = (key: string) =>
    `Unable to set '${key}'. This only works if your SSH server is configured to accept these variables via AcceptEnv. ` +
    `Alternatively, if a Bash-like shell runs the command on the remote host, you could prefix the command itself ` +
    `with the variables in the form 'VAR=value command'`;

/** Opens an exec session after the server confirmed (or refused) each env variable. */
export function execWithEnv(
    client: Client,
    command: string,
    env: EnvVar[],
    ctx: OpContext,
): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
        const done = (err: Error | undefined, stream?: ClientChannel) => (err ? reject(err) : resolve(stream!));
        if (env.length === 0) {
            client.exec(command, done);
            return;
        }
        const internals = client as unknown as Ssh2Internals;
        const proto = internals._protocol;
        const origExec = proto?.exec;
        const origEnv = proto?.env;
        const channels = internals._chanMgr?._channels;
        if (!proto || typeof origExec !== "function" || typeof origEnv !== "function" || !channels) {
            reject(new Error("cannot send environment variables: unsupported ssh2 version (expected ssh2 1.x internals)"));
            return;
        }
        proto.exec = (remoteId: number, cmd: string, wantReply: boolean) => {
            proto.exec = origExec; // intercept this single request only
            const chan = Object.values(channels).find(
                (c): c is Ssh2Channel => !!c && typeof c === "object" && (c as Ssh2Channel).outgoing?.id === remoteId,
            );
            const pending = chan?._callbacks;
            if (!chan || !pending || pending.length === 0) {
                client.end();
                reject(new Error("cannot send environment variables: unsupported ssh2 version (session channel not found)"));
                return;
            }
            // ssh2 queued the exec reply handler last; env replies arrive first, so theirs go before it.
            const execReply = pending.pop()!;
            const refused: EnvVar[] = [];
            const replies = env.map(
                (v) =>
                    new Promise<void>((res) => {
                        pending.push((hadErr) => {
                            if (hadErr) refused.push(v);
                            res();
                        });
                        origEnv.call(proto, remoteId, v.key, v.value, true);
                    }),
            );
            void Promise.all(replies).then(() => {
                for (const v of refused.filter((r) => !r.required)) ctx.log.warning(SETENV_HINT(v.key));
                const fatal = refused.find((r) => r.required);
                if (fatal) {
                    ctx.log.error(SETENV_HINT(fatal.key));
                    execReply(new Error(`could not set environment variable ${JSON.stringify(fatal.key)}: ssh: setenv failed`));
                    chan.close();
                    return;
                }
                pending.push(execReply);
                origExec.call(proto, remoteId, cmd, wantReply);
            });
        };
        client.exec(command, (err, stream) => {
            proto.exec = origExec;
            done(err, stream);
        });
    });
}

/** The variables to send, in the order 1.2.1 sends them. Exported for tests. */
export function envRequests(inputs: RemoteInputs, previous: Previous): EnvVar[] {
    const vars: EnvVar[] = Object.entries(inputs.environment ?? {}).map(([key, value]) => ({ key, value, required: true }));
    if (inputs.addPreviousOutputInEnv !== false) {
        if (previous.stdout) vars.push({ key: "PULUMI_COMMAND_STDOUT", value: previous.stdout, required: false });
        if (previous.stderr) vars.push({ key: "PULUMI_COMMAND_STDERR", value: previous.stderr, required: false });
    }
    return vars;
}

/** os.constants.signals is keyed "SIGTERM"; SSH sends "TERM". Go reports 128+signo as the status. */
function signalStatus(signal: string): number {
    const n = os.constants.signals[`SIG${signal}` as NodeJS.Signals];
    return 128 + (typeof n === "number" ? n : 0);
}

export async function runRemote(
    command: string,
    commandIsSecret: boolean,
    inputs: RemoteInputs,
    previous: Previous,
    ctx: OpContext,
): Promise<RemoteOutputs> {
    const client = await dial(connectionFrom(inputs.connection), ctx);
    const capture = new OutputCapture(ctx.log, inputs.logging);
    try {
        const cause = await new Promise<string | undefined>((resolve, reject) => {
            let exit: string | undefined | null = null; // null: no exit status seen (yet)
            const onClientClose = () => reject(new Error("ssh: connection closed before the command finished"));
            const onAbort = () => {
                client.end();
                reject(new Error("context canceled"));
            };
            client.once("close", onClientClose);
            ctx.signal.addEventListener("abort", onAbort, { once: true });
            const finish = (f: () => void) => {
                client.removeListener("close", onClientClose);
                ctx.signal.removeEventListener("abort", onAbort);
                f();
            };
            execWithEnv(client, command, envRequests(inputs, previous), ctx).then(
                (stream) => {
                    stream.on("data", (c: Buffer) => capture.stdout(c));
                    stream.stderr.on("data", (c: Buffer) => capture.stderr(c));
                    const stdin = inputs.stdin !== undefined && inputs.stdin.length > 0 ? inputs.stdin : undefined;
                    stream.end(stdin);
                    stream.on("exit", (code: number | null, signal?: string, _core?: boolean, description?: string) => {
                        if (signal) {
                            exit = `Process exited with status ${signalStatus(signal)} from signal ${signal}`;
                            if (description) exit += `. Reason was: ${description}`;
                        } else {
                            exit = code === 0 ? undefined : `Process exited with status ${code}`;
                        }
                    });
                    stream.on("close", () =>
                        finish(() =>
                            resolve(exit === null ? "wait: remote command exited without exit status or exit signal" : exit),
                        ),
                    );
                },
                (err: Error) => finish(() => reject(err)),
            );
        });
        capture.end();
        await ctx.log.flush();
        if (cause !== undefined) throw runError(cause, command, commandIsSecret, capture.combinedText);
        const strict = capture.problem();
        if (strict !== undefined) throw runError(strict, command, commandIsSecret, capture.combinedText.slice(0, 4096));
        return { stdout: capture.stdoutText, stderr: capture.stderrText };
    } finally {
        client.end();
    }
}
