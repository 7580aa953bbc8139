// The graphs the Agent Server serves: deepagents agents on the scripted model.
// "agent": writes under /memories/ go to the server's store and, as on Managed
// Deep Agents with skip_memory_write_protection=false, pause for human
// approval. "headless": the same agent without approval middleware, the graph
// operators point unattended channels at.
import { CompositeBackend, StateBackend, StoreBackend, createDeepAgent } from "deepagents";
import { todoListMiddleware } from "langchain";
import { ScriptedChatModel } from "./scripted-model.js";

const approveOrReject = { allowedDecisions: ["approve", "reject"] };

function scriptedDeepAgent(interruptOn) {
  return createDeepAgent({
    model: new ScriptedChatModel({}),
    systemPrompt: "You are a scripted test agent.",
    backend: new CompositeBackend(new StateBackend(), { "/memories/": new StoreBackend() }),
    // deepagents 1.14.1 adds write_todos only in some harness profiles; the
    // hosted deep agents plan with it, so add it explicitly.
    middleware: [todoListMiddleware()],
    interruptOn,
  });
}

export const agent = scriptedDeepAgent({ write_file: approveOrReject, edit_file: approveOrReject });

export const headless = scriptedDeepAgent(undefined);
