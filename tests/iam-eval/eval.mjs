// Independent IAM policy evaluator for trailshare's tests.
//
// moto cannot judge trust policies, conditions or permissions boundaries, so
// the Rust tests hand those questions to @cloud-copilot/iam-simulate, an
// implementation of AWS's evaluation logic that shares no code with ours.
//
// stdin:  {"cases": [{"name", "identityPolicies": [policy...],
//                     "permissionBoundaryPolicies"?: [policy...],
//                     "resourcePolicy"?: policy,
//                     "request": {"principal", "action", "resource",
//                                 "resourceAccount", "context"?}}]}
// stdout: {"results": [{"name", "decision": "Allowed"|"ImplicitlyDenied"|"ExplicitlyDenied"}]}
// A case the simulator rejects as invalid (bad policy, unknown action, wrong
// resource type) exits 2 with the reason: a test must never read "denied"
// out of a malformed question.
//
// The simulator takes the request context as given. AWS always puts the
// principal's account in it (`aws:PrincipalAccount`), which trust policies
// name as a policy variable; it is derived here from the principal's ARN
// unless the case gives it. Every other key (aws:PrincipalArn with its
// path, aws:PrincipalOrgID, session and principal tags, ...) is the case's:
// see README.md.
import { runSimulation, runUnsafeSimulation } from '@cloud-copilot/iam-simulate'

/** The account of an IAM or STS principal ARN, as AWS puts it in every request. */
export function principalAccount(principal) {
  return /^arn:aws:(?:iam|sts)::(\d{12}):/.exec(principal ?? '')?.[1]
}

/** The case's context, with `aws:PrincipalAccount` as AWS sets it. */
function withPrincipalAccount(request) {
  const context = { ...(request.context ?? {}) }
  const given = Object.keys(context).some((key) => key.toLowerCase() === 'aws:principalaccount')
  const account = principalAccount(request.principal)
  if (!given && account) context['aws:PrincipalAccount'] = account
  return context
}

/** Evaluates one case; throws with the simulator's reasons if it is invalid. */
export async function evaluate(testCase) {
  const { request } = testCase
  const named = (policies, prefix) =>
    (policies ?? []).map((policy, i) => ({ name: `${prefix}${i}`, policy }))
  const simulation = {
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource: request.resource, accountId: request.resourceAccount },
      contextVariables: withPrincipalAccount(request),
    },
    identityPolicies: named(testCase.identityPolicies, 'identity'),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  }
  if (testCase.resourcePolicy) simulation.resourcePolicy = testCase.resourcePolicy
  if (testCase.permissionBoundaryPolicies) {
    simulation.permissionBoundaryPolicies = named(testCase.permissionBoundaryPolicies, 'boundary')
  }
  const result = await runSimulation(simulation, {})
  if (result.resultType === 'error') {
    throw new Error(`case ${JSON.stringify(testCase.name)} is invalid: ${JSON.stringify(result.errors)}`)
  }
  // iam-simulate 0.1.173 validates context keys against its catalogue, whose
  // `kms:EncryptionContext:${EncryptionContextKey}` pattern its matcher does
  // not expand (it only expands `.../${Key}` patterns), so it would drop
  // `kms:EncryptionContext:aws:cloudtrail:arn` and answer "denied" for the
  // wrong reason. Those questions (already validated above, apart from that
  // key) are evaluated again with the context as given; any other dropped
  // key makes the case invalid.
  const ignored = result.result?.ignoredContextKeys ?? []
  if (ignored.length > 0) {
    const unexpanded = (key) => /^kms:EncryptionContext:.+/i.test(key)
    if (!ignored.every(unexpanded)) {
      throw new Error(`case ${JSON.stringify(testCase.name)} uses context keys the action does not have: ${ignored}`)
    }
    // The unvalidated path loads the resource policy without a name, which
    // its analysis needs: hand it over as already validated, with one.
    const unsafe = { ...simulation }
    if (simulation.resourcePolicy) {
      unsafe.resourcePolicy = { __validated: true, policyDocument: simulation.resourcePolicy, metadata: { name: 'resource' } }
    }
    return runUnsafeSimulation(unsafe, {})
  }
  return result.overallResult
}

async function main() {
  let input = ''
  for await (const chunk of process.stdin) input += chunk
  const { cases } = JSON.parse(input)
  const results = []
  for (const testCase of cases) {
    results.push({ name: testCase.name, decision: await evaluate(testCase) })
  }
  process.stdout.write(JSON.stringify({ results }))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error) => {
    process.stderr.write(`${error.message}\n`)
    process.exit(2)
  })
}
