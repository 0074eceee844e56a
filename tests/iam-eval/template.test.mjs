// The guard rails of template.yaml, judged by the independent evaluator on
// the policies as CloudFormation would deploy them: the provisioner is fenced
// to the share path and the boundary, the boundary leaves only trail reads,
// and the forwarder reaches only what the deployer listed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { readFileSync } from 'node:fs'
import { evaluate } from './eval.mjs'
import { loadTemplate, resolver } from './cfn.mjs'

const A = '111111111111'
const REGION = 'us-east-1'
const TRAIL = 'central-trail'
const DEST = 'c-central-logs'
const WRITER = 'arn:aws:iam::333333333333:role/trailshare-writer'
const BOUNDARY = `arn:aws:iam::${A}:policy/trailshare/trailshare-SharePermissionsBoundary-1A2B3C`
const SECRET = `arn:aws:secretsmanager:${REGION}:${A}:secret:trailshare-ShareSecret-AbC123`
const RUNS = 'trailshare-backfillbucket-x1y2'
const ACTIVITY = 'trailshare-activitybucket-a1b2'
const template = loadTemplate(fileURLToPath(new URL('../../template.yaml', import.meta.url)))

function deployed(params) {
  const resolve = resolver(template, params, {
    account: A,
    region: REGION,
    arns: {
      SharePermissionsBoundary: BOUNDARY,
      ProvisionerLogGroup: 'trailshare-provisioner',
      ForwarderLogGroup: 'trailshare-forwarder',
      'ForwarderQueue.Arn': `arn:aws:sqs:${REGION}:${A}:trailshare-queue`,
      'ForwarderDeadLetterQueue.Arn': `arn:aws:sqs:${REGION}:${A}:trailshare-dlq`,
      'ForwarderRole.Arn': `arn:aws:iam::${A}:role/trailshare-ForwarderRole-X`,
      'ProvisionerRole.Arn': `arn:aws:iam::${A}:role/trailshare-ProvisionerRole-X`,
      ShareSecret: SECRET,
      BackfillBucket: RUNS,
      'BackfillBucket.Arn': `arn:aws:s3:::${RUNS}`,
      ActivityBucket: ACTIVITY,
      'ActivityBucket.Arn': `arn:aws:s3:::${ACTIVITY}`,
    },
  })
  const resources = template.Resources
  const inline = (name) => resources[name].Properties.Policies.map((p) => resolve(p.PolicyDocument))
  return {
    provisioner: inline('ProvisionerRole'),
    forwarder: inline('ForwarderRole'),
    runsPolicy: resolve(resources.BackfillBucketPolicy.Properties.PolicyDocument),
    activityPolicy: resolve(resources.ActivityBucketPolicy.Properties.PolicyDocument),
    boundary: resolve(resources.SharePermissionsBoundary.Properties.PolicyDocument),
    secretPolicy: resolve(resources.ShareSecretPolicy.Properties.ResourcePolicy),
  }
}

const withDefaults = deployed({
  TrailBucketName: TRAIL,
  // Required (no default): who may change shares.
  AdminPrincipalArns: `arn:aws:iam::${A}:role/platform/ShareAdmin`,
  CopyDestinationBuckets: DEST,
  CopyWriterRoleArns: WRITER,
})

/**
 * Asks the evaluator whether `policies` let their holder do `action` on
 * `resource`. `resourcePolicy` stands for the other side's consent where AWS
 * needs one (a KMS key policy, a cross-account role's trust policy).
 */
async function decide(policies, action, resource, context = {}, boundary, resourcePolicy) {
  const testCase = {
    name: `${action} ${resource}`,
    identityPolicies: policies,
    request: {
      principal: `arn:aws:sts::${A}:assumed-role/function/session`,
      action,
      resource,
      resourceAccount: resource.split(':')[4] || A,
      context,
    },
  }
  if (boundary) testCase.permissionBoundaryPolicies = [boundary]
  if (resourcePolicy) testCase.resourcePolicy = resourcePolicy
  return evaluate(testCase)
}

/** A resource policy that leaves the decision to account A's own policies. */
const trustsAccountA = (action) => ({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${A}:root` }, Action: action, Resource: '*' }],
})
const role = (path) => `arn:aws:iam::${A}:role${path}`
const withBoundary = (arn) => ({ 'iam:PermissionsBoundary': arn })

test('the provisioner creates, grants, re-trusts and un-grants only share roles that carry the boundary', async () => {
  const p = withDefaults.provisioner
  const share = role('/trailshare/trailshare-bu-b')
  for (const action of [
    'iam:CreateRole',
    'iam:PutRolePolicy',
    'iam:UpdateAssumeRolePolicy',
    'iam:UpdateRole',
    'iam:DeleteRolePolicy',
  ]) {
    assert.equal(await decide(p, action, share, withBoundary(BOUNDARY)), 'Allowed', action)
    assert.equal(await decide(p, action, share, {}), 'ExplicitlyDenied', `${action} without a boundary`)
    assert.equal(
      await decide(p, action, share, withBoundary(`arn:aws:iam::${A}:policy/AdministratorAccess`)),
      'ExplicitlyDenied',
      `${action} with another boundary`,
    )
    assert.notEqual(await decide(p, action, role('/Admin'), withBoundary(BOUNDARY)), 'Allowed', `${action} off the path`)
    assert.notEqual(
      await decide(p, action, role('/trailshare-evil/x'), withBoundary(BOUNDARY)),
      'Allowed',
      `${action} on a look-alike path`,
    )
  }
})

test('the provisioner manages roles on its path only, and never loosens a boundary', async () => {
  const p = withDefaults.provisioner
  const share = role('/trailshare/trailshare-bu-b')
  for (const action of ['iam:GetRole', 'iam:DeleteRole']) {
    assert.equal(await decide(p, action, share), 'Allowed', action)
    assert.equal(await decide(p, action, role('/OrganizationAccountAccessRole')), 'ImplicitlyDenied', action)
  }
  // GetRole returns the record's tags: ListRoleTags is not needed.
  assert.equal(await decide(p, 'iam:ListRoleTags', share), 'ImplicitlyDenied')
  // DeleteRole needs no boundary: IAM refuses it while the (fenced) inline
  // policy is there, and deleting cannot widen access.
  assert.equal(await decide(p, 'iam:DeleteRole', share, withBoundary(`arn:aws:iam::${A}:policy/Wide`)), 'Allowed')
  assert.equal(
    await decide(p, 'iam:DeleteRolePolicy', role('/OrganizationAccountAccessRole'), withBoundary(BOUNDARY)),
    'ImplicitlyDenied',
  )
  assert.equal(await decide(p, 'iam:ListRoles', '*'), 'Allowed')
  // A missing share's role is looked up by name only: a 404, not a 502.
  assert.equal(await decide(p, 'iam:GetRole', role('/trailshare-nobody')), 'Allowed')
  assert.equal(await decide(p, 'iam:DeleteRole', role('/trailshare-elsewhere')), 'ImplicitlyDenied')
  assert.equal(await decide(p, 'iam:DeleteRolePermissionsBoundary', share), 'ExplicitlyDenied')
  assert.equal(
    await decide(p, 'iam:PutRolePermissionsBoundary', share, withBoundary(`arn:aws:iam::${A}:policy/Wide`)),
    'ExplicitlyDenied',
  )
  assert.equal(await decide(p, 'iam:PassRole', share), 'ImplicitlyDenied')
  assert.equal(
    await decide(p, 'iam:AttachRolePolicy', share, { 'iam:PolicyARN': `arn:aws:iam::aws:policy/AdministratorAccess` }),
    'ImplicitlyDenied',
  )
  assert.equal(await decide(p, 'iam:CreateUser', `arn:aws:iam::${A}:user/backdoor`), 'ImplicitlyDenied')
  assert.equal(await decide(p, 's3:GetObject', `arn:aws:s3:::${TRAIL}/AWSLogs/x`), 'ImplicitlyDenied')
})

test('the provisioner writes and removes only its own trailshare:* tags', async () => {
  const p = withDefaults.provisioner
  const share = role('/trailshare/trailshare-bu-b')
  for (const action of ['iam:TagRole', 'iam:UntagRole']) {
    const keys = (...k) => ({ 'aws:TagKeys': k })
    assert.equal(await decide(p, action, share, keys('trailshare:format', 'trailshare:record:00')), 'Allowed', action)
    assert.equal(await decide(p, action, share, keys('trailshare:format', 'owner')), 'ImplicitlyDenied', action)
    assert.equal(await decide(p, action, share, keys('cost-center')), 'ImplicitlyDenied', action)
    assert.equal(await decide(p, action, role('/Admin'), keys('trailshare:format')), 'ImplicitlyDenied', action)
  }
  const tags = { 'aws:TagKeys': ['trailshare:format'], 'iam:PermissionsBoundary': BOUNDARY }
  assert.equal(await decide(p, 'iam:CreateRole', share, tags), 'Allowed')
})

test('the provisioner is told who may change shares and what the forwarder may reach', async () => {
  const admins = `arn:aws:iam::${A}:role/Platform,arn:aws:iam::${A}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_*`
  const params = {
    TrailBucketName: TRAIL,
    AdminPrincipalArns: admins,
    GranteeAccounts: '222222222222,333333333333',
    CopyDestinationBuckets: DEST,
    CopyWriterRoleArns: WRITER,
  }
  const resolve = resolver(template, params, {
    account: A,
    region: REGION,
    arns: {
      SharePermissionsBoundary: BOUNDARY,
      'ForwarderRole.Arn': `arn:aws:iam::${A}:role/fwd`,
      ForwarderQueue: `https://sqs.${REGION}.amazonaws.com/${A}/trailshare-queue`,
      ShareSecret: SECRET,
      BackfillBucket: RUNS,
      ActivityBucket: ACTIVITY,
      ForwarderDeadLetterQueue: `https://sqs.${REGION}.amazonaws.com/${A}/trailshare-dlq`,
    },
  })
  const env = resolve(template.Resources.ProvisionerFunction.Properties.Environment.Variables)
  assert.deepEqual(env, {
    ADMIN_PRINCIPALS: admins,
    GRANTEE_ACCOUNTS: '222222222222,333333333333',
  })
  assert.equal(template.Parameters.AdminPrincipalArns.Default, undefined, 'AdminPrincipalArns is required')
  const pattern = new RegExp(template.Parameters.AdminPrincipalArns.AllowedPattern)
  for (const good of admins.split(',')) assert.match(good, pattern)
  for (const bad of ['*', `arn:aws:iam::${A}:role/*`, `arn:aws:iam::*:role/Admin`, `arn:aws:iam::${A}:role/a*/b`]) {
    assert.doesNotMatch(bad, pattern, bad)
  }
  const globals = resolve(template.Globals.Function.Environment.Variables)
  assert.equal(globals.TRAIL_ARN, '')
  assert.equal(globals.SHARE_SECRET_ARN, SECRET)
  // Both functions know the activity bucket (the forwarder writes it, the
  // provisioner reads it); the forwarder knows account A.
  assert.equal(globals.ACTIVITY_BUCKET, ACTIVITY)
  const forwarderEnv = resolve(template.Resources.ForwarderFunction.Properties.Environment.Variables)
  assert.equal(forwarderEnv.OWNER_ACCOUNT, A)
  // Both functions hold the forwarder's lists: the provisioner refuses what
  // lies outside them, the forwarder acts on no route outside them.
  assert.equal(globals.COPY_DESTINATION_BUCKETS, DEST)
  assert.equal(globals.COPY_WRITER_ROLE_ARNS, WRITER)
  assert.equal(globals.NOTIFICATION_TARGET_ARNS, '')
  assert.equal(globals.FORWARDER_QUEUE_URL, `https://sqs.${REGION}.amazonaws.com/${A}/trailshare-queue`)
  // Both keep backfill runs in the stack's own bucket.
  assert.equal(globals.BACKFILL_BUCKET, RUNS)
  // Both know the activity bucket: the forwarder writes it, the provisioner reads it.
  assert.equal(globals.ACTIVITY_BUCKET, ACTIVITY)
  assert.deepEqual(Object.keys(template.Rules.OrganizationKmsTrailNeedsTrailArn), ['RuleCondition', 'Assertions'])
})

test('the boundary leaves a share role nothing but reading the trail bucket', async () => {
  const everything = [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }]
  const b = withDefaults.boundary
  const trailObject = `arn:aws:s3:::${TRAIL}/AWSLogs/222222222222/CloudTrail/x.json.gz`
  assert.equal(await decide(everything, 's3:GetObject', trailObject, {}, b), 'Allowed')
  assert.equal(await decide(everything, 's3:ListBucket', `arn:aws:s3:::${TRAIL}`, { 's3:prefix': 'AWSLogs/2222' }, b), 'Allowed')
  // Only the logs root: not whatever else the bucket holds.
  assert.equal(await decide(everything, 's3:GetObject', `arn:aws:s3:::${TRAIL}/private/notes.txt`, {}, b), 'ImplicitlyDenied')
  assert.equal(await decide(everything, 's3:ListBucket', `arn:aws:s3:::${TRAIL}`, { 's3:prefix': 'private/' }, b), 'ImplicitlyDenied')
  assert.equal(await decide(everything, 's3:ListBucket', `arn:aws:s3:::${TRAIL}`, {}, b), 'ImplicitlyDenied')
  assert.equal(await decide(everything, 's3:GetBucketLocation', `arn:aws:s3:::${TRAIL}`, {}, b), 'Allowed')
  const prefixed = deployed({ TrailBucketName: TRAIL, TrailPrefix: 'org' }).boundary
  assert.equal(await decide(everything, 's3:GetObject', `arn:aws:s3:::${TRAIL}/org/AWSLogs/x`, {}, prefixed), 'Allowed')
  assert.equal(await decide(everything, 's3:GetObject', trailObject, {}, prefixed), 'ImplicitlyDenied')
  assert.equal(await decide(everything, 's3:PutObject', trailObject, {}, b), 'ImplicitlyDenied')
  assert.equal(await decide(everything, 's3:DeleteObject', trailObject, {}, b), 'ImplicitlyDenied')
  assert.equal(await decide(everything, 's3:GetObject', `arn:aws:s3:::${DEST}/x`, {}, b), 'ImplicitlyDenied')
  assert.equal(await decide(everything, 'iam:CreateRole', role('/x'), {}, b), 'ImplicitlyDenied')
  assert.equal(await decide(everything, 'sts:AssumeRole', role('/Admin'), {}, b), 'ImplicitlyDenied')
  const key = `arn:aws:kms:${REGION}:${A}:key/1234abcd-12ab-34cd-56ef-1234567890ab`
  const keyPolicy = trustsAccountA('kms:*')
  assert.equal(await decide(everything, 'kms:Decrypt', key, {}, b, keyPolicy), 'ImplicitlyDenied', 'no key: no decrypt')
  const withKey = deployed({ TrailBucketName: TRAIL, KmsKeyArn: key }).boundary
  const viaS3 = { 'kms:ViaService': `s3.${REGION}.amazonaws.com` }
  assert.equal(await decide(everything, 'kms:Decrypt', key, viaS3, withKey, keyPolicy), 'Allowed')
  assert.equal(await decide(everything, 'kms:Decrypt', key, {}, withKey, keyPolicy), 'ImplicitlyDenied', 'only through S3')
  assert.equal(await decide(everything, 'kms:Encrypt', key, {}, withKey, keyPolicy), 'ImplicitlyDenied')
})

test('the forwarder reads and tags log files, and writes only where it was told', async () => {
  const f = withDefaults.forwarder
  const log = `arn:aws:s3:::${TRAIL}/AWSLogs/222222222222/CloudTrail/us-east-1/2024/05/01/x.json.gz`
  for (const action of ['s3:GetObject', 's3:GetObjectTagging', 's3:PutObjectTagging']) {
    assert.equal(await decide(f, action, log), 'Allowed', action)
    assert.equal(await decide(f, action, `arn:aws:s3:::${TRAIL}/private/notes.txt`), 'ImplicitlyDenied', action)
  }
  assert.equal(await decide(f, 's3:PutObject', `arn:aws:s3:::${DEST}/from-central/AWSLogs/x`), 'Allowed')
  assert.equal(await decide(f, 's3:PutObject', `arn:aws:s3:::some-other-bucket/x`), 'ImplicitlyDenied')
  assert.equal(await decide(f, 's3:PutObject', log), 'ExplicitlyDenied', 'never back into the trail bucket')
  assert.equal(await decide(f, 's3:DeleteObject', log), 'ImplicitlyDenied')
  // The writer roles trust A; only the forwarder's own policy decides.
  const trust = trustsAccountA('sts:AssumeRole')
  assert.equal(await decide(f, 'sts:AssumeRole', WRITER, {}, undefined, trust), 'Allowed')
  assert.equal(
    await decide(f, 'sts:AssumeRole', 'arn:aws:iam::333333333333:role/Admin', {}, undefined, trust),
    'ImplicitlyDenied',
  )
  assert.equal(await decide(f, 'iam:GetRole', role('/trailshare/trailshare-bu-b')), 'Allowed')
  assert.equal(await decide(f, 'iam:GetRole', role('/Admin')), 'ImplicitlyDenied')
  assert.equal(await decide(f, 'iam:TagRole', role('/trailshare/trailshare-bu-b')), 'ImplicitlyDenied')
  assert.equal(await decide(f, 'iam:CreateRole', role('/trailshare/x')), 'ImplicitlyDenied')
})

test('with no destinations listed, the forwarder can copy nowhere and assume nothing', async () => {
  const f = deployed({ TrailBucketName: TRAIL }).forwarder
  assert.equal(await decide(f, 's3:PutObject', `arn:aws:s3:::${DEST}/x`), 'ImplicitlyDenied')
  const trust = trustsAccountA('sts:AssumeRole')
  assert.equal(await decide(f, 'sts:AssumeRole', WRITER, {}, undefined, trust), 'ImplicitlyDenied')
})

test('the forwarder announces only to the listed queues and topics', async () => {
  const queue = `arn:aws:sqs:eu-west-1:222222222222:b-new-logs`
  const topic = `arn:aws:sns:${REGION}:333333333333:c-new-logs`
  const f = deployed({ TrailBucketName: TRAIL, NotificationTargetArns: `${queue},${topic}` }).forwarder
  // The grantee's access policy consents, as grantee_setup.queue_policy says.
  const consent = (action, arn) => ({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${A}:root` }, Action: action, Resource: arn }] })
  assert.equal(await decide(f, 'sqs:SendMessage', queue, {}, undefined, consent('sqs:SendMessage', queue)), 'Allowed')
  assert.equal(await decide(f, 'sns:Publish', topic, {}, undefined, consent('sns:Publish', topic)), 'Allowed')
  const other = `arn:aws:sqs:eu-west-1:222222222222:someone-elses`
  assert.equal(await decide(f, 'sqs:SendMessage', other, {}, undefined, consent('sqs:SendMessage', other)), 'ImplicitlyDenied')
  assert.equal(await decide(f, 'sqs:ReceiveMessage', queue, {}, undefined, consent('sqs:ReceiveMessage', queue)), 'ImplicitlyDenied')
  const none = deployed({ TrailBucketName: TRAIL }).forwarder
  assert.equal(await decide(none, 'sqs:SendMessage', queue, {}, undefined, consent('sqs:SendMessage', queue)), 'ImplicitlyDenied')
  const pattern = new RegExp(template.Parameters.NotificationTargetArns.AllowedPattern)
  for (const bad of ['*', 'arn:aws:sqs:*:222222222222:q', 'arn:aws:sqs:us-east-1:222222222222:*', 'arn:aws:sqs:us-east-1:222222222222:q.fifo']) {
    assert.doesNotMatch(bad, pattern, bad)
  }
})

test('a trail prefix narrows the forwarder to that prefix', async () => {
  const f = deployed({ TrailBucketName: TRAIL, TrailPrefix: 'org trail' }).forwarder
  assert.equal(await decide(f, 's3:PutObjectTagging', `arn:aws:s3:::${TRAIL}/org trail/AWSLogs/x`), 'Allowed')
  assert.equal(await decide(f, 's3:PutObjectTagging', `arn:aws:s3:::${TRAIL}/AWSLogs/x`), 'ImplicitlyDenied')
})

test('backfill work goes only to the forwarder queue, from either function', async () => {
  const queue = `arn:aws:sqs:${REGION}:${A}:trailshare-queue`
  for (const [who, policies] of [['provisioner', withDefaults.provisioner], ['forwarder', withDefaults.forwarder]]) {
    assert.equal(await decide(policies, 'sqs:SendMessage', queue), 'Allowed', who)
    assert.equal(
      await decide(policies, 'sqs:SendMessage', `arn:aws:sqs:${REGION}:${A}:someone-elses-queue`),
      'ImplicitlyDenied',
      `${who} to another queue`,
    )
    assert.equal(
      await decide(policies, 'sqs:SendMessage', `arn:aws:sqs:${REGION}:222222222222:trailshare-queue`),
      'ImplicitlyDenied',
      `${who} to a look-alike queue in another account`,
    )
    assert.equal(await decide(policies, 'sqs:PurgeQueue', queue), 'ImplicitlyDenied', who)
  }
  // Backfill lists the trail bucket's folders.
  assert.equal(await decide(withDefaults.forwarder, 's3:ListBucket', `arn:aws:s3:::${TRAIL}`), 'Allowed')
})

test('with TrailTopicArn, only that topic may send to the queue, and no EventBridge rule exists', () => {
  const topic = `arn:aws:sns:${REGION}:${A}:aws-controltower-AllConfigNotifications`
  const resolve = resolver(template, { TrailBucketName: TRAIL, TrailTopicArn: topic }, {
    account: A,
    region: REGION,
    arns: {
      'ForwarderQueue.Arn': `arn:aws:sqs:${REGION}:${A}:trailshare-queue`,
      'ForwarderDeadLetterQueue.Arn': `arn:aws:sqs:${REGION}:${A}:trailshare-dlq`,
      'TrailObjectCreatedRule.Arn': `arn:aws:events:${REGION}:${A}:rule/never`,
      'ProvisionerRole.Arn': `arn:aws:iam::${A}:role/trailshare-ProvisionerRole-X`,
      'ForwarderRole.Arn': `arn:aws:iam::${A}:role/trailshare-ForwarderRole-X`,
    },
  })
  const policy = resolve(template.Resources.ForwarderQueuePolicy.Properties.PolicyDocument)
  const senders = policy.Statement.filter((s) => s.Effect === 'Allow')
  assert.deepEqual(senders.map((s) => [s.Principal.Service, s.Condition.ArnEquals['aws:SourceArn']]), [
    ['sns.amazonaws.com', topic],
  ])
  assert.equal(template.Resources.TrailObjectCreatedRule.Condition, 'UseEventBridge')
  assert.equal(template.Resources.TrailTopicSubscription.Condition, 'UseTrailTopic')
})

test("the trail topic's subscription filters on the body with the filter tested on the stand-in's SNS", () => {
  const subscription = template.Resources.TrailTopicSubscription.Properties
  assert.equal(subscription.FilterPolicyScope, 'MessageBody')
  assert.equal(subscription.RawMessageDelivery, false)
  // tests/forwarder/triggers.rs subscribes a real (moto) queue with this file and
  // publishes CloudTrail's and AWS Config's messages to it.
  const tested = JSON.parse(readFileSync(new URL('../fixtures/sns/trail-topic-filter.json', import.meta.url), 'utf8'))
  assert.deepEqual(subscription.FilterPolicy, tested)
})

test('a daily schedule invokes the provisioner, which may delete share roles and nothing else', async () => {
  const events = template.Resources.ProvisionerFunction.Properties.Events
  const schedules = Object.values(events).filter((e) => e.Type === 'Schedule')
  assert.deepEqual(schedules.map((e) => [e.Properties.Schedule, e.Properties.Enabled]), [['rate(1 day)', true]])
  // The sweep's calls: list, read, remove the inline policy, delete.
  const p = withDefaults.provisioner
  const share = role('/trailshare/trailshare-expired')
  assert.equal(await decide(p, 'iam:ListRoles', '*'), 'Allowed')
  for (const action of ['iam:GetRole', 'iam:ListRolePolicies', 'iam:DeleteRole']) {
    assert.equal(await decide(p, action, share), 'Allowed', action)
  }
  assert.equal(await decide(p, 'iam:DeleteRolePolicy', share, withBoundary(BOUNDARY)), 'Allowed')
  assert.equal(await decide(p, 'iam:DeleteRole', role('/service-role/trailshare-lookalike')), 'ImplicitlyDenied')
})

test('only the two functions read the share seal key, whatever else an identity policy of A allows', async () => {
  const read = (principalArn, policies) =>
    evaluate({
      name: `GetSecretValue as ${principalArn}`,
      identityPolicies: policies,
      resourcePolicy: withDefaults.secretPolicy,
      request: {
        principal: principalArn,
        action: 'secretsmanager:GetSecretValue',
        resource: SECRET,
        resourceAccount: A,
        context: { 'aws:PrincipalArn': principalArn },
      },
    })
  const provisioner = `arn:aws:iam::${A}:role/trailshare-ProvisionerRole-X`
  const forwarder = `arn:aws:iam::${A}:role/trailshare-ForwarderRole-X`
  assert.equal(await read(provisioner, withDefaults.provisioner), 'Allowed')
  assert.equal(await read(forwarder, withDefaults.forwarder), 'Allowed')
  // PowerUserAccess-like: every Secrets Manager action on every secret.
  const everything = [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'secretsmanager:*', Resource: '*' }] }]
  assert.equal(await read(`arn:aws:iam::${A}:role/PowerUser`, everything), 'ExplicitlyDenied')
  assert.equal(await read(`arn:aws:iam::${A}:user/admin`, everything), 'ExplicitlyDenied')
  // A role named like a function's, at another path, is not it.
  assert.equal(await read(`arn:aws:iam::${A}:role/other/trailshare-ForwarderRole-X`, everything), 'ExplicitlyDenied')
  // The functions read that one secret, nothing else.
  assert.equal(
    await decide(withDefaults.forwarder, 'secretsmanager:GetSecretValue', `arn:aws:secretsmanager:${REGION}:${A}:secret:other-AbC123`),
    'ImplicitlyDenied',
  )
})

// The forwarder's queue takes work only from the stack: the EventBridge rule
// (or the trail topic) and the two function roles. Anyone else of A whose
// identity policy allows sqs:SendMessage (PowerUserAccess does) meets the
// queue policy's explicit deny. Failed before the fix: the PowerUser was
// Allowed (the queue policy only allowed the rule; it denied no one).
const QUEUE = `arn:aws:sqs:${REGION}:${A}:trailshare-queue`
const DLQ = `arn:aws:sqs:${REGION}:${A}:trailshare-dlq`
const RULE = `arn:aws:events:${REGION}:${A}:rule/trailshare-TrailObjectCreatedRule-X`
const PROVISIONER_ROLE = `arn:aws:iam::${A}:role/trailshare-ProvisionerRole-X`
const FORWARDER_ROLE = `arn:aws:iam::${A}:role/trailshare-ForwarderRole-X`
const TOPIC = `arn:aws:sns:${REGION}:${A}:aws-controltower-AllConfigNotifications`

function queueWorld(params) {
  // AdminPrincipalArns is required (each item an ARN): the admins may
  // send to the forwarder queue for `trailshare dlq redrive` (dlq.test.mjs).
  const admins = `arn:aws:iam::${A}:role/platform/ShareAdmin`
  const resolve = resolver(template, { TrailBucketName: TRAIL, AdminPrincipalArns: admins, ...params }, {
    account: A,
    region: REGION,
    arns: {
      SharePermissionsBoundary: BOUNDARY,
      ProvisionerLogGroup: 'trailshare-provisioner',
      ForwarderLogGroup: 'trailshare-forwarder',
      'ForwarderQueue.Arn': QUEUE,
      'ForwarderDeadLetterQueue.Arn': DLQ,
      'TrailObjectCreatedRule.Arn': RULE,
      'ProvisionerRole.Arn': PROVISIONER_ROLE,
      'ForwarderRole.Arn': FORWARDER_ROLE,
      ShareSecret: SECRET,
      BackfillBucket: RUNS,
      'BackfillBucket.Arn': `arn:aws:s3:::${RUNS}`,
      ActivityBucket: ACTIVITY,
      'ActivityBucket.Arn': `arn:aws:s3:::${ACTIVITY}`,
    },
  })
  const resources = template.Resources
  const inline = (name) => resources[name].Properties.Policies.map((p) => resolve(p.PolicyDocument))
  return {
    queuePolicy: resolve(resources.ForwarderQueuePolicy.Properties.PolicyDocument),
    provisioner: inline('ProvisionerRole'),
    forwarder: inline('ForwarderRole'),
  }
}

/** sqs:SendMessage to `queue` by `principal`, over TLS, as SQS would judge it. */
function sendMessage(world, principal, identityPolicies, context = {}, queue = QUEUE) {
  const roleArn = principal.startsWith('arn:aws:sts::')
    ? principal.replace(':sts::', ':iam::').replace(':assumed-role/', ':role/').replace(/\/[^/]*$/, '')
    : undefined
  return evaluate({
    name: `${principal} sqs:SendMessage ${queue}`,
    identityPolicies,
    resourcePolicy: world.queuePolicy,
    request: {
      principal,
      action: 'sqs:SendMessage',
      resource: queue,
      resourceAccount: A,
      context: {
        'aws:SecureTransport': 'true',
        ...(roleArn ? { 'aws:PrincipalArn': roleArn } : {}),
        ...context,
      },
    },
  })
}

const powerUser = [
  { Version: '2012-10-17', Statement: [{ Effect: 'Allow', NotAction: ['iam:*', 'organizations:*'], Resource: '*' }] },
]

test('only the trail rule and the two function roles may send to the forwarder queue', async () => {
  const w = queueWorld({})
  const sessions = (role) => role.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/') + '/session'
  // Each legitimate sender still passes.
  assert.equal(
    await sendMessage(w, 'events.amazonaws.com', [], { 'aws:SourceArn': RULE, 'aws:SourceAccount': A }),
    'Allowed',
    'the trail rule',
  )
  assert.equal(
    await sendMessage(w, 'events.amazonaws.com', [], { 'aws:SourceArn': RULE, 'aws:SourceAccount': A }, DLQ),
    'Allowed',
    "the trail rule's dead-letter config",
  )
  assert.equal(await sendMessage(w, sessions(PROVISIONER_ROLE), w.provisioner), 'Allowed', 'the provisioner (backfill)')
  assert.equal(await sendMessage(w, sessions(FORWARDER_ROLE), w.forwarder), 'Allowed', 'the forwarder (fan-out)')
  // A PowerUser of A: its own policy allows the send, the queue denies it.
  for (const who of [
    `arn:aws:sts::${A}:assumed-role/PowerUser/mallory`,
    `arn:aws:sts::${A}:assumed-role/AWSReservedSSO_PowerUserAccess_1a2b/mallory`,
    `arn:aws:iam::${A}:user/ops/mallory`,
  ]) {
    const context = who.includes(':user/') ? { 'aws:PrincipalArn': who } : {}
    assert.equal(await sendMessage(w, who, powerUser, context), 'ExplicitlyDenied', who)
    assert.equal(await sendMessage(w, who, powerUser, context, DLQ), 'ExplicitlyDenied', `${who} to the DLQ`)
  }
  // A role named like a function role at another path is not it.
  const lookalike = `arn:aws:sts::${A}:assumed-role/trailshare-ProvisionerRole-X/x`
  assert.equal(
    await sendMessage(w, lookalike, powerUser, { 'aws:PrincipalArn': `arn:aws:iam::${A}:role/evil/trailshare-ProvisionerRole-X` }),
    'ExplicitlyDenied',
    'a look-alike function role',
  )
  // Another EventBridge rule or SNS topic (someone's own) aimed at the queue.
  const otherRule = `arn:aws:events:${REGION}:${A}:rule/mallory`
  assert.equal(await sendMessage(w, 'events.amazonaws.com', [], { 'aws:SourceArn': otherRule }), 'ExplicitlyDenied')
  assert.equal(
    await sendMessage(w, 'sns.amazonaws.com', [], { 'aws:SourceArn': `arn:aws:sns:${REGION}:${A}:mallory` }),
    'ExplicitlyDenied',
  )
})

test('with TrailTopicArn, the trail topic and the two function roles may send, nobody else', async () => {
  const w = queueWorld({ TrailTopicArn: TOPIC })
  const sessions = (role) => role.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/') + '/session'
  assert.equal(await sendMessage(w, 'sns.amazonaws.com', [], { 'aws:SourceArn': TOPIC }), 'Allowed', 'the trail topic')
  assert.equal(await sendMessage(w, sessions(PROVISIONER_ROLE), w.provisioner), 'Allowed', 'the provisioner')
  assert.equal(await sendMessage(w, sessions(FORWARDER_ROLE), w.forwarder), 'Allowed', 'the forwarder')
  assert.equal(
    await sendMessage(w, `arn:aws:sts::${A}:assumed-role/PowerUser/mallory`, powerUser),
    'ExplicitlyDenied',
    'a PowerUser of A',
  )
  // No rule exists in this mode: an EventBridge sender naming any rule is denied.
  assert.equal(await sendMessage(w, 'events.amazonaws.com', [], { 'aws:SourceArn': RULE }), 'ExplicitlyDenied')
})

// ADMIN_PRINCIPALS' role entries are checked for their path with one
// GetRole of the caller's role: the provisioner may read exactly the listed
// roles (a "*" entry is a name prefix at its path), no look-alike elsewhere.
test('the provisioner may look up the admin roles, and no other role', async () => {
  const sso = `arn:aws:iam::${A}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_*`
  const platform = `arn:aws:iam::${A}:role/platform/ShareAdmin`
  const p = deployed({
    TrailBucketName: TRAIL,
    AdminPrincipalArns: `${sso},${platform},arn:aws:iam::${A}:user/ops/alice`,
  }).provisioner
  for (const allowed of [role('/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0a1b2c'), role('/platform/ShareAdmin')]) {
    assert.equal(await decide(p, 'iam:GetRole', allowed), 'Allowed', allowed)
  }
  for (const denied of [
    role('/evil/AWSReservedSSO_Admin_0a1b2c'),
    role('/AWSReservedSSO_Admin_0a1b2c'),
    role('/aws-reserved/sso.amazonaws.com/AWSReservedSSO_ReadOnly_0a1b2c'),
    role('/platform/ShareAdmin2'),
    role('/OrganizationAccountAccessRole'),
  ]) {
    assert.equal(await decide(p, 'iam:GetRole', denied), 'ImplicitlyDenied', denied)
  }
  // Nothing but reading: no change to any admin role.
  for (const action of ['iam:UpdateAssumeRolePolicy', 'iam:PutRolePolicy', 'iam:DeleteRole']) {
    assert.notEqual(await decide(p, action, role('/platform/ShareAdmin'), withBoundary(BOUNDARY)), 'Allowed', action)
  }
  assert.notEqual(await decide(p, 'iam:TagRole', role('/platform/ShareAdmin')), 'Allowed', 'iam:TagRole')
})

// Metrics travel inside the forwarder's log lines (CloudWatch Embedded
// Metric Format): writing its own log group is all it takes, so neither
// function is granted cloudwatch:PutMetricData, and none calls it.
test('metrics leave only through the functions\' own log groups, never PutMetricData', async () => {
  const stream = (group) => `arn:aws:logs:${REGION}:${A}:log-group:${group}:log-stream:2026/01/01/[$LATEST]0a1b2c`
  const f = withDefaults.forwarder
  assert.equal(await decide(f, 'logs:PutLogEvents', stream('trailshare-forwarder')), 'Allowed')
  assert.equal(await decide(f, 'logs:PutLogEvents', stream('another-function')), 'ImplicitlyDenied')
  for (const policies of [withDefaults.forwarder, withDefaults.provisioner]) {
    assert.equal(
      await decide(policies, 'cloudwatch:PutMetricData', '*', { 'cloudwatch:namespace': 'trailshare/trailshare' }),
      'ImplicitlyDenied',
    )
  }
})

// Backfill runs steer the forwarder (a cancelled run's items do nothing):
// each function reads and writes run objects of the stack's own bucket and
// nothing else there, and nobody else of A may write one, whatever their
// identity policy allows. Failed before the bucket policy: the PowerUser
// was Allowed.
test('only the two functions write backfill runs, and only run objects', async () => {
  const run = `arn:aws:s3:::${RUNS}/runs/bu-b/0123456789abcdef01234567.json`
  const write = (principal, policies, resource = run) =>
    evaluate({
      name: `${principal} s3:PutObject ${resource}`,
      identityPolicies: policies,
      resourcePolicy: withDefaults.runsPolicy,
      request: {
        principal,
        action: 's3:PutObject',
        resource,
        resourceAccount: A,
        context: {
          'aws:SecureTransport': 'true',
          'aws:PrincipalArn': principal.replace(':sts::', ':iam::').replace(':assumed-role/', ':role/').replace(/\/[^/]*$/, ''),
        },
      },
    })
  const session = (role) => role.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/') + '/session'
  for (const [who, role, policies] of [
    ['provisioner', PROVISIONER_ROLE, withDefaults.provisioner],
    ['forwarder', FORWARDER_ROLE, withDefaults.forwarder],
  ]) {
    assert.equal(await write(session(role), policies), 'Allowed', `${who} writes a run`)
    assert.equal(await decide(policies, 's3:GetObject', run), 'Allowed', `${who} reads a run`)
    assert.equal(
      await decide(policies, 's3:ListBucket', `arn:aws:s3:::${RUNS}`, { 's3:prefix': 'runs/bu-b/x.json' }),
      'Allowed',
      `${who} tells a missing run`,
    )
    assert.equal(
      await decide(policies, 's3:ListBucket', `arn:aws:s3:::${RUNS}`, { 's3:prefix': '' }),
      'ImplicitlyDenied',
      `${who} lists the bucket`,
    )
    assert.equal(
      await write(session(role), policies, `arn:aws:s3:::${RUNS}/elsewhere.json`),
      'ImplicitlyDenied',
      `${who} outside runs/`,
    )
    assert.equal(await decide(policies, 's3:DeleteObject', run), 'ImplicitlyDenied', `${who} deletes a run`)
  }
  const everyS3 = [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] }]
  assert.equal(await write(`arn:aws:sts::${A}:assumed-role/PowerUser/mallory`, everyS3), 'ExplicitlyDenied')
  assert.equal(await write(`arn:aws:iam::${A}:user/admin`, everyS3), 'ExplicitlyDenied')
  assert.equal(
    await write(`arn:aws:sts::${A}:assumed-role/trailshare-ForwarderRole-X/x`.replace('assumed-role/', 'assumed-role/evil/'), everyS3),
    'ExplicitlyDenied',
    'a look-alike function role',
  )
})

// GET /shares/{name}/activity: the provisioner lists share folders of the
// activity bucket and reads their objects, and can neither write, tag nor
// delete there, nor list the bucket outside share folders. Failed before
// ReadShareActivity and ListShareActivity: every read was ImplicitlyDenied.
test('the provisioner reads share activity and cannot write it', async () => {
  const p = withDefaults.provisioner
  const object = `arn:aws:s3:::${ACTIVITY}/share=bu-b/date=2026-12-06/111111111111_CloudTrail_us-east-1_20261206T0005Z_abc.json.gz.jsonl`
  const bucket = `arn:aws:s3:::${ACTIVITY}`
  assert.equal(await decide(p, 's3:GetObject', object), 'Allowed', 'reads an activity object')
  assert.equal(
    await decide(p, 's3:ListBucket', bucket, { 's3:prefix': 'share=bu-b/date=2026-12-06/' }),
    'Allowed',
    'lists a share day',
  )
  assert.equal(await decide(p, 's3:ListBucket', bucket, { 's3:prefix': '' }), 'ImplicitlyDenied', 'lists the bucket')
  assert.equal(await decide(p, 's3:GetObject', `${bucket}/elsewhere.json`), 'ImplicitlyDenied', 'outside share=')
  for (const action of ['s3:PutObject', 's3:DeleteObject', 's3:PutObjectTagging', 's3:PutBucketPolicy', 's3:PutLifecycleConfiguration']) {
    const resource = action.startsWith('s3:PutBucket') || action === 's3:PutLifecycleConfiguration' ? bucket : object
    assert.equal(await decide(p, action, resource), 'ImplicitlyDenied', action)
  }
  // Only the activity bucket: share= objects elsewhere stay closed.
  assert.equal(await decide(p, 's3:GetObject', `arn:aws:s3:::${RUNS}/share=bu-b/x.jsonl`), 'ImplicitlyDenied', 'another bucket')
})

// Share activity (who assumed and read each share) is what the API shows:
// the forwarder writes its objects (share=<name>/...) and may write nowhere
// new beside them; nobody else of A writes there, whatever their identity
// policy allows; only TLS. Failed before WriteShareActivity (the forwarder
// was ImplicitlyDenied) and before the bucket policy (the PowerUser was
// Allowed).
test('only the forwarder writes share activity, only activity objects, and nowhere new', async () => {
  const object = `arn:aws:s3:::${ACTIVITY}/share=bu-b/date=2026-12-06/111111111111_CloudTrail_us-east-1_20261206T0005Z_a.json.gz.jsonl`
  const put = (principal, policies, resource = object, tls = 'true') =>
    evaluate({
      name: `${principal} s3:PutObject ${resource}`,
      identityPolicies: policies,
      resourcePolicy: withDefaults.activityPolicy,
      request: {
        principal,
        action: 's3:PutObject',
        resource,
        resourceAccount: A,
        context: {
          'aws:SecureTransport': tls,
          'aws:PrincipalArn': principal.replace(':sts::', ':iam::').replace(':assumed-role/', ':role/').replace(/\/[^/]*$/, ''),
        },
      },
    })
  const forwarder = `arn:aws:sts::${A}:assumed-role/trailshare-ForwarderRole-X/session`
  const f = withDefaults.forwarder
  assert.equal(await put(forwarder, f), 'Allowed', 'the forwarder writes an activity object')
  assert.equal(await put(forwarder, f, object, 'false'), 'ExplicitlyDenied', 'not without TLS')
  assert.equal(await put(forwarder, f, `arn:aws:s3:::${ACTIVITY}/other/x`), 'ImplicitlyDenied', 'outside share=')
  for (const action of ['s3:GetObject', 's3:DeleteObject', 's3:PutObjectAcl']) {
    assert.equal(await decide(f, action, object), 'ImplicitlyDenied', `the forwarder ${action}`)
  }
  // Where the forwarder may write at all: the listed destination, activity,
  // run objects; never the trail bucket, never anything else.
  const writes = {
    [`arn:aws:s3:::${DEST}/from-central/AWSLogs/x`]: 'Allowed',
    [object]: 'Allowed',
    [`arn:aws:s3:::${RUNS}/runs/bu-b/x.json`]: 'Allowed',
    [`arn:aws:s3:::${TRAIL}/AWSLogs/222222222222/CloudTrail/x.json.gz`]: 'ExplicitlyDenied',
    [`arn:aws:s3:::${TRAIL}/share=bu-b/x`]: 'ExplicitlyDenied',
    ['arn:aws:s3:::some-other-bucket/share=bu-b/x']: 'ImplicitlyDenied',
    [`arn:aws:s3:::${ACTIVITY}-other/share=bu-b/x`]: 'ImplicitlyDenied',
  }
  for (const [resource, expected] of Object.entries(writes)) {
    assert.equal(await decide(f, 's3:PutObject', resource), expected, resource)
  }
  const everyS3 = [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] }]
  assert.equal(await put(`arn:aws:sts::${A}:assumed-role/PowerUser/mallory`, everyS3), 'ExplicitlyDenied')
  assert.equal(
    await put(`arn:aws:sts::${A}:assumed-role/trailshare-ProvisionerRole-X/session`, withDefaults.provisioner),
    'ExplicitlyDenied',
    'the provisioner reads activity, it never writes it',
  )
  // Deleting or replicating over a line rewrites it too: denied as a write.
  const mallory = `arn:aws:sts::${A}:assumed-role/PowerUser/mallory`
  for (const action of ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:ReplicateObject', 's3:ReplicateDelete']) {
    const decision = await evaluate({
      name: `PowerUser ${action} on activity`,
      identityPolicies: everyS3,
      resourcePolicy: withDefaults.activityPolicy,
      request: {
        principal: mallory,
        action,
        resource: object,
        resourceAccount: A,
        context: { 'aws:SecureTransport': 'true', 'aws:PrincipalArn': `arn:aws:iam::${A}:role/PowerUser` },
      },
    })
    assert.equal(decision, 'ExplicitlyDenied', action)
  }
})
