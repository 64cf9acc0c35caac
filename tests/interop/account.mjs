// A JS automerge-repo 2.5.6 client that reads and writes Rapport account
// documents through rapport-relay, knowing only docs/schema.md. Driven by
// tests/e2e/team.rs.
//
//   node account.mjs WS_BASE HTTP_BASE TEAM TOKEN PEER NEW_PERSON
//       lists the team's documents, prints "ACCOUNT <json>" for each
//       account document (its name and its people's names), then adds the
//       person NEW_PERSON to the first account and syncs it.

import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { ImmutableString } from "@automerge/automerge"
import { randomBytes } from "node:crypto"

const [wsBase, httpBase, team, token, peer, newPerson] = process.argv.slice(2)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// Scalar strings (schema section 2: `str`, `day`, `id`, enums) must not be
// collaborative text, which automerge 3 makes of plain JS strings.
const str = (s) => new ImmutableString(s)

const res = await fetch(`${httpBase}/v1/teams/${team}/docs`, {
  headers: { authorization: `Bearer ${token}` },
})
if (res.status !== 200) throw new Error(`list: ${res.status} ${await res.text()}`)
const { docs } = await res.json()

const q = `token=${encodeURIComponent(token)}&peer=${encodeURIComponent(peer)}`
const repo = new Repo({
  peerId: peer,
  network: [new WebSocketClientAdapter(`${wsBase}/v1/sync?${q}`)],
})

const scalar = (v) => (v == null ? v : v.toString())
let first = null
for (const { id } of docs) {
  const handle = await repo.find(id)
  const doc = handle.doc()
  if (scalar(doc.kind) !== "account" || Number(doc.schema) !== 1) continue
  const people = Object.values(doc.people ?? {})
    .filter((p) => !p.archived)
    .map((p) => scalar(p.name))
    .sort()
  console.log(`ACCOUNT ${JSON.stringify({ name: scalar(doc.account.name), people })}`)
  first ??= handle
}
if (!first) throw new Error("no account document found")

// A new person: a fresh 16-hex-digit id as the key of the existing
// `people` map (never replace the map), every field as the schema types it.
const today = new Date().toISOString().slice(0, 10)
const id = randomBytes(8).toString("hex")
first.change((d) => {
  d.people[id] = {
    name: str(newPerson),
    email: null,
    phone: null,
    title: str("Added from JS"),
    reports_to: null,
    influences: [],
    opposes: [],
    orientation: null,
    political_status: null,
    goals: "",
    notes: "Written by a JS automerge-repo client.",
    tags: [str("js")],
    archived: false,
    created: str(today),
  }
})
console.log(`ADDED ${id}`)
await sleep(1500)
process.exit(0)
