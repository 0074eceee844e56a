// The dead-letter queue's guard rails in template.yaml, judged by the
// independent evaluator on the policies as CloudFormation would deploy
// them: the forwarder may send to the dead-letter queue (its last-receive
// explanation) and nothing else may; only the admins may take messages out
// or redrive them, and the policy they attach for `trailshare dlq` reaches
// the two queues and nothing else.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { evaluate } from './eval.mjs'
import { loadTemplate, resolver } from './cfn.mjs'

const A = '111111111111'
const REGION = 'us-east-1'
const QUEUE = `arn:aws:sqs:${REGION}:${A}:trailshare-queue`
const DLQ = `arn:aws:sqs:${REGION}:${A}:trailshare-dlq`
const RULE = `arn:aws:events:${REGION}:${A}:rule/trailshare-TrailObjectCreatedRule-X`
const PROVISIONER_ROLE = `arn:aws:iam::${A}:role/trailshare-ProvisionerRole-X`
const FORWARDER_ROLE = `arn:aws:iam::${A}:role/trailshare-ForwarderRole-X`
const PLATFORM = `arn:aws:iam::${A}:role/platform/ShareAdmin`
const SSO_ADMINS = `arn:aws:iam::${A}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_*`
const template = loadTemplate(fileURLToPath(new URL('../../template.yaml', import.meta.url)))

const resolve = resolver(
  template,
  { TrailBucketName: 'central-trail', AdminPrincipalArns: `${PLATFORM},${SSO_ADMINS}` },
  {
    account: A,
    region: REGION,
    arns: {
      SharePermissionsBoundary: `arn:aws:iam::${A}:policy/trailshare/boundary`,
      ProvisionerLogGroup: 'trailshare-provisioner',
      ForwarderLogGroup: 'trailshare-forwarder',
      ForwarderQueue: `https://sqs.${REGION}.amazonaws.com/${A}/trailshare-queue`,
      ForwarderDeadLetterQueue: `https://sqs.${REGION}.amazonaws.com/${A}/trailshare-dlq`,
      'ForwarderQueue.Arn': QUEUE,
      'ForwarderDeadLetterQueue.Arn': DLQ,
      'TrailObjectCreatedRule.Arn': RULE,
      'ProvisionerRole.Arn': PROVISIONER_ROLE,
      'ForwarderRole.Arn': FORWARDER_ROLE,
      ShareSecret: `arn:aws:secretsmanager:${REGION}:${A}:secret:trailshare-ShareSecret-AbC123`,
      BackfillBucket: 'trailshare-backfillbucket-x1y2',
      'BackfillBucket.Arn': 'arn:aws:s3:::trailshare-backfillbucket-x1y2',
      ActivityBucket: 'trailshare-activitybucket-a1b2',
      'ActivityBucket.Arn': 'arn:aws:s3:::trailshare-activitybucket-a1b2',
    },
  },
)
const resources = template.Resources
const inline = (name) => resources[name].Properties.Policies.map((p) => resolve(p.PolicyDocument))
const queuePolicy = resolve(resources.ForwarderQueuePolicy.Properties.PolicyDocument)
const forwarder = inline('ForwarderRole')
const provisioner = inline('ProvisionerRole')
const adminPolicy = [resolve(resources.DeadLetterAdminPolicy.Properties.PolicyDocument)]
// What PowerUserAccess allows: every SQS action on every queue.
const powerUser = [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', NotAction: ['iam:*', 'organizations:*'], Resource: '*' }] }]

const session = (role, name = 'session') =>
  role.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/').replace(/\/(.*\/)?([^/]+)$/, '/$2') + `/${name}`

/** `action` on `queue` by a session of `role` (or a service), as SQS would judge it, over TLS. */
function ask(role, identityPolicies, action, queue, context = {}) {
  return evaluate({
    name: `${role} ${action} ${queue}`,
    identityPolicies,
    resourcePolicy: queuePolicy,
    request: {
      principal: role.startsWith('arn:') ? session(role) : role,
      action,
      resource: queue,
      resourceAccount: A,
      context: {
        'aws:SecureTransport': 'true',
        ...(role.startsWith('arn:') ? { 'aws:PrincipalArn': role } : {}),
        ...context,
      },
    },
  })
}

test('the forwarder, and no other principal, may put messages in the dead-letter queue', async () => {
  assert.equal(await ask(FORWARDER_ROLE, forwarder, 'sqs:SendMessage', DLQ), 'Allowed', 'its last-receive send')
  // The rule's dead-letter config for events it could not deliver.
  assert.equal(await ask('events.amazonaws.com', [], 'sqs:SendMessage', DLQ, { 'aws:SourceArn': RULE }), 'Allowed')
  // The provisioner queues backfill work, never dead letters; an admin
  // redrives out of the queue, never into it; a PowerUser not at all.
  assert.equal(await ask(PROVISIONER_ROLE, powerUser, 'sqs:SendMessage', DLQ), 'ExplicitlyDenied', 'the provisioner')
  assert.equal(await ask(PLATFORM, powerUser, 'sqs:SendMessage', DLQ), 'ExplicitlyDenied', 'an admin')
  assert.equal(await ask(`arn:aws:iam::${A}:role/PowerUser`, powerUser, 'sqs:SendMessage', DLQ), 'ExplicitlyDenied')
  // The forwarder's grant is that one send: it reads nothing back.
  for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:StartMessageMoveTask']) {
    assert.notEqual(await ask(FORWARDER_ROLE, forwarder, action, DLQ), 'Allowed', action)
  }
  assert.equal(await ask(FORWARDER_ROLE, forwarder, 'sqs:SendMessage', `arn:aws:sqs:${REGION}:${A}:other`), 'ImplicitlyDenied')
  assert.notEqual(await ask(PROVISIONER_ROLE, provisioner, 'sqs:SendMessage', DLQ), 'Allowed')
})

test('the admins list and redrive the dead-letter queue with the policy the template gives them', async () => {
  const admins = [PLATFORM, `arn:aws:iam::${A}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0a1b2c`]
  for (const admin of admins) {
    // List: receive, then release (visibility 0); redrive one share: send
    // to the forwarder's queue, delete from the dead-letter queue.
    for (const action of ['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes']) {
      assert.equal(await ask(admin, adminPolicy, action, DLQ), 'Allowed', `${admin} ${action}`)
    }
    assert.equal(await ask(admin, adminPolicy, 'sqs:SendMessage', QUEUE), 'Allowed', `${admin} redrives into the queue`)
    // Redrive all: SQS's move task, which receives and deletes from the
    // dead-letter queue and sends to the destination, as the caller.
    for (const action of ['sqs:StartMessageMoveTask', 'sqs:ListMessageMoveTasks']) {
      assert.equal(await ask(admin, adminPolicy, action, DLQ), 'Allowed', `${admin} ${action}`)
    }
  }
  // Nothing beyond the two queues, and nothing that loses messages.
  for (const [action, queue] of [
    ['sqs:PurgeQueue', DLQ],
    ['sqs:PurgeQueue', QUEUE],
    ['sqs:SetQueueAttributes', DLQ],
    ['sqs:SetQueueAttributes', QUEUE],
    ['sqs:DeleteQueue', DLQ],
    ['sqs:ReceiveMessage', QUEUE],
    ['sqs:DeleteMessage', QUEUE],
    ['sqs:CancelMessageMoveTask', DLQ],
    ['sqs:SendMessage', `arn:aws:sqs:${REGION}:${A}:other`],
    ['sqs:ReceiveMessage', `arn:aws:sqs:${REGION}:${A}:other`],
  ]) {
    assert.notEqual(await ask(PLATFORM, adminPolicy, action, queue), 'Allowed', `${action} ${queue}`)
  }
  const actions = adminPolicy[0].Statement.flatMap((s) => s.Action)
  assert.ok(actions.every((a) => a.startsWith('sqs:')), actions.join(' '))
  const reached = new Set(adminPolicy[0].Statement.flatMap((s) => [s.Resource].flat()))
  assert.deepEqual([...reached].sort(), [DLQ, QUEUE].sort())
})

test('nobody but the admins takes messages out of the dead-letter queue or redrives it', async () => {
  for (const who of [
    `arn:aws:iam::${A}:role/PowerUser`,
    `arn:aws:iam::${A}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_PowerUserAccess_1a2b`,
    // Named like an admin role, at another path.
    `arn:aws:iam::${A}:role/evil/ShareAdmin`,
    FORWARDER_ROLE,
  ]) {
    for (const action of [
      'sqs:ReceiveMessage',
      'sqs:DeleteMessage',
      'sqs:ChangeMessageVisibility',
      'sqs:StartMessageMoveTask',
      'sqs:CancelMessageMoveTask',
      'sqs:PurgeQueue',
    ]) {
      assert.equal(await ask(who, powerUser, action, DLQ), 'ExplicitlyDenied', `${who} ${action}`)
    }
  }
  // The same PowerUser still cannot push into the forwarder's queue either.
  assert.equal(await ask(`arn:aws:iam::${A}:role/PowerUser`, powerUser, 'sqs:SendMessage', QUEUE), 'ExplicitlyDenied')
  // The admins' exception on the forwarder's queue is exactly theirs.
  assert.equal(await ask(`arn:aws:iam::${A}:role/evil/ShareAdmin`, powerUser, 'sqs:SendMessage', QUEUE), 'ExplicitlyDenied')
  assert.equal(await ask(`arn:aws:iam::${A}:role/platform/ShareAdmin2`, powerUser, 'sqs:SendMessage', QUEUE), 'ExplicitlyDenied')
})

test('maxReceiveCount is one parameter, read by the queue and the forwarder', () => {
  const queue = resolve(resources.ForwarderQueue.Properties)
  const env = resolve(resources.ForwarderFunction.Properties.Environment.Variables)
  assert.equal(String(queue.RedrivePolicy.maxReceiveCount), String(template.Parameters.MaxReceives.Default))
  assert.equal(env.MAX_RECEIVES, queue.RedrivePolicy.maxReceiveCount)
  assert.equal(env.DEAD_LETTER_QUEUE_URL, `https://sqs.${REGION}.amazonaws.com/${A}/trailshare-dlq`)
  assert.deepEqual([template.Parameters.MaxReceives.MinValue, template.Parameters.MaxReceives.MaxValue], [1, 1000])
})
