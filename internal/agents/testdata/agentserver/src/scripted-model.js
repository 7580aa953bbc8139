// A chat model that needs no network and no API key: it picks its reply from
// the words of the latest user message, so a test chooses the agent's
// behaviour through the prompt alone. Replies stream in small chunks, like a
// real model streaming tokens.
import { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { AIMessage, AIMessageChunk } from "@langchain/core/messages";
import { ChatGenerationChunk } from "@langchain/core/outputs";

export const MEMORY_FILE = "/memories/preferences.md";

const LONG_SECTIONS = 40;

function text(message) {
  const { content } = message;
  if (typeof content === "string") return content;
  return content
    .filter((block) => block.type === "text")
    .map((block) => block.text)
    .join("");
}

function typeOf(message) {
  return typeof message._getType === "function" ? message._getType() : message.type;
}

function longAnswer() {
  const parts = ["# A long answer", ""];
  for (let i = 1; i <= LONG_SECTIONS; i++) {
    parts.push(`## Section ${i}`, "", `Paragraph ${i} of the long answer, with **bold**, _italics_ and \`code\`.`, "", `- point ${i}.a`, `- point ${i}.b`, "");
  }
  parts.push("The end.");
  return parts.join("\n");
}

let callCounter = 0;

function toolCall(name, args) {
  callCounter += 1;
  return { name, args, id: `call_${name}_${Date.now()}_${callCounter}`, type: "tool_call" };
}

// decide returns {text, toolCalls, delayMs} for the conversation so far.
export function decide(messages) {
  let lastHuman = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (typeOf(messages[i]) === "human") {
      lastHuman = i;
      break;
    }
  }
  const prompt = lastHuman >= 0 ? text(messages[lastHuman]) : "";
  const words = prompt.toLowerCase();
  const toolResults = messages.slice(lastHuman + 1).filter((m) => typeOf(m) === "tool");
  const lastResult = toolResults.length > 0 ? text(toolResults[toolResults.length - 1]) : "";
  const delayMs = words.includes("slow") ? 150 : 5;

  if (words.includes("fail")) {
    throw new Error("scripted model failure: the prompt asked the agent to fail");
  }
  if (words.includes("plan")) {
    if (toolResults.length === 0) {
      return {
        text: "",
        delayMs,
        toolCalls: [
          toolCall("write_todos", {
            todos: [
              { content: "Read the question", status: "completed" },
              { content: "Draft the answer", status: "in_progress" },
              { content: "Check the answer", status: "pending" },
            ],
          }),
        ],
      };
    }
    return { text: "Here is the **plan**, done:\n\n1. Read the question\n2. Draft the answer\n3. Check the answer", delayMs };
  }
  if (words.includes("subagent")) {
    if (toolResults.length === 0) {
      return {
        text: "",
        delayMs,
        toolCalls: [
          toolCall("task", {
            subagent_type: "general-purpose",
            description: "Look up the capital of France and report it in one sentence.",
          }),
        ],
      };
    }
    return { text: `The subagent reported: ${lastResult}`, delayMs };
  }
  if (words.includes("remember")) {
    if (toolResults.length === 0) {
      return {
        text: "",
        delayMs,
        toolCalls: [toolCall("write_file", { file_path: MEMORY_FILE, content: "The user prefers short answers.\n" })],
      };
    }
    return { text: `Memory write result: ${lastResult}`, delayMs };
  }
  if (words.includes("long")) {
    return { text: longAnswer(), delayMs };
  }
  if (words.includes("capital of france")) {
    // The general-purpose subagent receives the task description as its prompt.
    return { text: "The capital of France is **Paris**.", delayMs };
  }
  return { text: `**Short answer.** You said: ${prompt}`, delayMs };
}

function chunksOf(value, size) {
  const out = [];
  for (let i = 0; i < value.length; i += size) out.push(value.slice(i, i + size));
  return out;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class ScriptedChatModel extends BaseChatModel {
  static lc_name() {
    return "ScriptedChatModel";
  }

  _llmType() {
    return "scripted";
  }

  // The agent binds its tools; the script already knows their names.
  bindTools() {
    return this;
  }

  async _generate(messages) {
    const reply = decide(messages);
    const message = new AIMessage({ content: reply.text, tool_calls: reply.toolCalls ?? [] });
    return { generations: [{ text: reply.text, message }] };
  }

  async *_streamResponseChunks(messages, _options, runManager) {
    const reply = decide(messages);
    const pieces = reply.text === "" ? [] : chunksOf(reply.text, 24);
    for (const piece of pieces) {
      await sleep(reply.delayMs);
      const chunk = new ChatGenerationChunk({ text: piece, message: new AIMessageChunk({ content: piece }) });
      yield chunk;
      await runManager?.handleLLMNewToken(piece);
    }
    if (reply.toolCalls?.length) {
      yield new ChatGenerationChunk({
        text: "",
        message: new AIMessageChunk({
          content: "",
          tool_call_chunks: reply.toolCalls.map((call, index) => ({
            name: call.name,
            args: JSON.stringify(call.args),
            id: call.id,
            index,
            type: "tool_call_chunk",
          })),
        }),
      });
    }
  }
}
