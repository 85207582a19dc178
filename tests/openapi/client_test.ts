// Compiles (tsc --noEmit --strict) against the types openapi-typescript generates from
// docs/openapi.yaml (run.sh writes them to schema.d.ts beside a copy of this file). It
// fails to compile when the description stops letting a typed client send or read what
// API.md allows, e.g. settings typed as Record<string, never>.
import type { components, paths } from "./schema";

type Json<T> = T extends { content: { "application/json": infer B } } ? B : never;

type CreateBody = Json<paths["/api/v1/chatbots"]["post"]["requestBody"]>;
type PatchBody = Json<NonNullable<paths["/api/v1/chatbots/{id}"]["patch"]["requestBody"]>>;
type CaptureBody = Json<paths["/api/v1/capture"]["post"]["requestBody"]>;
type Created = Json<paths["/api/v1/chatbots"]["post"]["responses"][200]>;
type Chatbot = components["schemas"]["Chatbot"];
type ErrorBody = Json<components["responses"]["NotFound"]>;

// Nested settings, on create and in a merge patch (null removes a member).
const settings = { theme: { color: "blue" }, limits: { max: 3 } };
export const create: CreateBody = { name: "Support Bot", settings };
export const patch: PatchBody = {
  name: "Support Bot v2",
  settings: { theme: { color: "blue" }, limits: { max: 3 }, greeting: null },
};
export const patchSettingsOnly: PatchBody = { settings: { theme: { color: "blue" }, limits: { max: 3 } } };

// Capture: user.id is a string or a number; custom holds scalars.
export const capture: CaptureBody = {
  conversationId: "conv_123",
  messages: [
    { role: "user", content: "How do I cancel?", id: "msg_001", sentAt: "2024-01-15T10:00:00Z" },
    { role: "assistant", content: "Go to Settings...", id: "msg_002" },
  ],
  user: { id: 456, name: "Ada" },
  custom: { plan: "pro", seats: 3, trial: false },
};

// Reading answers: settings come back as an open object.
export function themeColor(bot: Chatbot): unknown {
  const theme = bot.settings["theme"];
  return typeof theme === "object" && theme !== null ? (theme as Record<string, unknown>)["color"] : undefined;
}
export function newKey(answer: Created): string {
  return answer.apiKey + answer.chatbot.api_key_prefix;
}
export function errorCode(answer: ErrorBody): string {
  return answer.error.code;
}

// A typed request, as a client would send it.
export async function updateChatbot(base: string, token: string, id: string, body: PatchBody): Promise<Chatbot> {
  const res = await fetch(`${base}/api/v1/chatbots/${id}`, {
    method: "PATCH",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Chatbot;
}

// Teams (API.md section 10): roles are a closed set; a refusal by role names the role needed.
type RoleChange = Json<NonNullable<paths["/api/v1/members/{user_id}"]["patch"]["requestBody"]>>;
type InviteBody = Json<paths["/api/v1/invitations"]["post"]["requestBody"]>;
type Invited = Json<paths["/api/v1/invitations"]["post"]["responses"][200]>;
type Session = Json<paths["/api/v1/auth/session"]["get"]["responses"][200]>;
type Forbidden = Json<components["responses"]["Forbidden"]>;
export const promote: RoleChange = { role: "admin" };
export const invite: InviteBody = { email: "grace@example.com", role: "member" };
export function invitationToken(answer: Invited): string {
  return answer.token + answer.invitation.expires_at;
}
export function sessionRole(answer: Session): components["schemas"]["Role"] {
  return answer.role;
}
export function neededRole(answer: Forbidden): components["schemas"]["Role"] {
  return answer.error.required_role;
}

// The audit log (API.md section 13): a typed page of events; filters are query parameters.
type AuditPage = Json<paths["/api/v1/audit-events"]["get"]["responses"][200]>;
type AuditQuery = NonNullable<paths["/api/v1/audit-events"]["get"]["parameters"]["query"]>;
export const rotations: AuditQuery = { action: "chatbot.key_rotated", since: "2024-01-15T00:00:00Z", limit: 200 };
export function whoRotated(page: AuditPage): string[] {
  return page
    .filter((e) => e.action === "chatbot.key_rotated")
    .map((e) => `${e.actor.email ?? e.actor.type} ${e.target.name ?? ""} ${e.time}`);
}

// Retrying safely (API.md section 14): the Idempotency-Key header of create.
type CreateHeaders = NonNullable<paths["/api/v1/chatbots"]["post"]["parameters"]["header"]>;
export const retrySafe: CreateHeaders = { "Idempotency-Key": "6f1c2b7e-9a4d-4c1e-8b2f-3d5e7a9c1b0d" };
type Reused = Json<paths["/api/v1/chatbots"]["post"]["responses"][422]>;
export function reusedCode(answer: Reused): string {
  return answer.error.code;
}

// What API.md forbids does not compile.
// @ts-expect-error -- not an audit action
export const exploded: AuditQuery = { action: "chatbot.exploded" };
// @ts-expect-error -- "boss" is not a role
export const boss: RoleChange = { role: "boss" };
// @ts-expect-error -- an unknown field ("nmae") is a 400
export const typo: CreateBody = { nmae: "Support Bot" };
// @ts-expect-error -- name is required on create
export const nameless: CreateBody = { settings };
// @ts-expect-error -- a role is user, assistant or system
export const robot: CaptureBody = { conversationId: "c", messages: [{ role: "robot", content: "x" }] };
// @ts-expect-error -- user.id is a string or a number
export const boolId: CaptureBody = { conversationId: "c", messages: [{ role: "user", content: "x" }], user: { id: true } };
