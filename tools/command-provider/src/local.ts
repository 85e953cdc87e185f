// Running a local.Command on the machine the provider runs on.
//
// Behaviour of 1.2.1 (provider/pkg/provider/local/commandOutputs.go), re-implemented:
//   * argv = interpreter (default ["/bin/sh", "-c"]) + [command];
//   * working directory = `dir`, else the provider's own working directory (the engine starts
//     plugins in the project directory); a missing `dir` fails before anything runs;
//   * environment = the provider's environment + `environment` + (unless
//     addPreviousOutputInEnv is false) PULUMI_COMMAND_STDOUT/STDERR from the previous
//     create/update, each only when non-empty;
//   * stdin = `stdin` when non-empty, else nothing (EOF at once);
//   * failure = `exit status N: running "<command>":\n<output>`.
// (`assetPaths` / `archivePaths` are refused at Check: see schema.ts.)

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { OutputCapture, runError } from "./capture";
import type { OpContext } from "./log";
import type { Logging } from "./schema";

export interface LocalInputs {
    stdin?: string;
    logging?: Logging;
    interpreter?: string[];
    dir?: string;
    environment?: Record<string, string>;
    addPreviousOutputInEnv?: boolean;
}

export interface Previous {
    stdout?: string;
    stderr?: string;
}

export interface LocalOutputs {
    stdout: string;
    stderr: string;
}

// Go's names for signals, as they appear in its "signal: killed" exit errors.
const GO_SIGNAL_TEXT: Record<string, string> = {
    SIGHUP: "hangup",
    SIGINT: "interrupt",
    SIGQUIT: "quit",
    SIGILL: "illegal instruction",
    SIGABRT: "aborted",
    SIGBUS: "bus error",
    SIGFPE: "floating point exception",
    SIGKILL: "killed",
    SIGSEGV: "segmentation fault",
    SIGPIPE: "broken pipe",
    SIGALRM: "alarm clock",
    SIGTERM: "terminated",
};

/** The environment a command sees. Exported for tests. */
export function commandEnv(inputs: LocalInputs, previous: Previous, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...base, ...(inputs.environment ?? {}) };
    if (inputs.addPreviousOutputInEnv !== false) {
        if (previous.stdout) env.PULUMI_COMMAND_STDOUT = previous.stdout;
        if (previous.stderr) env.PULUMI_COMMAND_STDERR = previous.stderr;
    }
    return env;
}

function checkDir(dir: string): void {
    let st: fs.Stats;
    try {
        st = fs.statSync(dir);
    } catch {
        throw new Error(`chdir ${dir}: no such file or directory`);
    }
    if (!st.isDirectory()) throw new Error(`chdir ${dir}: not a directory`);
}

export async function runLocal(
    command: string,
    commandIsSecret: boolean,
    inputs: LocalInputs,
    previous: Previous,
    ctx: OpContext,
): Promise<LocalOutputs> {
    const interpreter = inputs.interpreter && inputs.interpreter.length > 0 ? inputs.interpreter : ["/bin/sh", "-c"];
    const argv = [...interpreter, command];
    const cwd = inputs.dir ?? process.cwd();
    if (inputs.dir !== undefined) checkDir(inputs.dir);
    if (ctx.signal.aborted) throw new Error("context canceled");

    const capture = new OutputCapture(ctx.log, inputs.logging);
    const stdin = inputs.stdin !== undefined && inputs.stdin.length > 0 ? inputs.stdin : undefined;
    const cause = await new Promise<string | undefined>((resolve) => {
        const child = spawn(argv[0], argv.slice(1), {
            cwd,
            env: commandEnv(inputs, previous),
            stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
        });
        // Cancel kills the process, like Go's exec.CommandContext. A grandchild may still hold
        // the output pipes, so on cancel we stop at the process's exit rather than wait for them.
        const onAbort = () => {
            child.kill("SIGKILL");
            child.once("exit", (_code, signal) => {
                child.stdout!.destroy();
                child.stderr!.destroy();
                resolve(`signal: ${GO_SIGNAL_TEXT[signal ?? "SIGKILL"] ?? signal}`);
            });
        };
        ctx.signal.addEventListener("abort", onAbort, { once: true });
        child.stdout!.on("data", (c: Buffer) => capture.stdout(c));
        child.stderr!.on("data", (c: Buffer) => capture.stderr(c));
        if (stdin !== undefined) {
            // A command that does not read its stdin closes the pipe early; that is not a failure.
            child.stdin!.on("error", () => undefined);
            child.stdin!.end(stdin);
        }
        child.on("error", (err: NodeJS.ErrnoException) => {
            ctx.signal.removeEventListener("abort", onAbort);
            if (err.code === "ENOENT") {
                resolve(
                    argv[0].includes("/")
                        ? `fork/exec ${argv[0]}: no such file or directory`
                        : `exec: ${JSON.stringify(argv[0])}: executable file not found in $PATH`,
                );
            } else {
                resolve(err.message);
            }
        });
        child.on("close", (code, signal) => {
            ctx.signal.removeEventListener("abort", onAbort);
            if (signal) resolve(`signal: ${GO_SIGNAL_TEXT[signal] ?? signal}`);
            else if (code !== 0) resolve(`exit status ${code}`);
            else resolve(undefined);
        });
    });
    capture.end();
    await ctx.log.flush();
    if (cause !== undefined) throw runError(cause, command, commandIsSecret, capture.combinedText);
    const strict = capture.problem();
    if (strict !== undefined) throw runError(strict, command, commandIsSecret, capture.combinedText.slice(0, 4096));

    return { stdout: capture.stdoutText, stderr: capture.stderrText };
}
