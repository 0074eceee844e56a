// The guard rails of template.yaml, judged by the independent evaluator on
// the policies as CloudFormation would deploy them: the provisioner is fenced
// to the share path and the boundary, the boundary leaves only trail reads,
// and the forwarder reaches only what the deployer listed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { evaluate } from './eval.mjs'
import { loadTemplate, resolver } from './cfn.mjs'

const A = '111111111111'
const REGION = 'us-east-1'
const TRAIL = 'central-trail'
const DEST = 'c-central-logs'
const WRITER = 'arn:aws:iam::333333333333:role/trailshare-writer'
const BOUNDARY = `arn:aws:iam::${A}:policy/trailshare/trailshare-SharePermissionsBoundary-1A2B3C`
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
      'ForwarderRole.Arn': `arn:aws:iam::${A}:role/trailshare-ForwarderRole-X`,
    },
  })
  const resources = template.Resources
  const inline = (name) => resources[name].Properties.Policies.map((p) => resolve(p.PolicyDocument))
  return {
    provisioner: inline('ProvisionerRole'),
    forwarder: inline('ForwarderRole'),
    boundary: resolve(resources.SharePermissionsBoundary.Properties.PolicyDocument),
  }
}

const withDefaults = deployed({
  TrailBucketName: TRAIL,
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

test('the provisioner creates and grants only share roles that carry the boundary', async () => {
  const p = withDefaults.provisioner
  const share = role('/trailshare/trailshare-bu-b')
  for (const action of ['iam:CreateRole', 'iam:PutRolePolicy']) {
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
  for (const action of ['iam:GetRole', 'iam:DeleteRole', 'iam:UpdateAssumeRolePolicy', 'iam:TagRole', 'iam:DeleteRolePolicy']) {
    assert.equal(await decide(p, action, share), 'Allowed', action)
    assert.equal(await decide(p, action, role('/OrganizationAccountAccessRole')), 'ImplicitlyDenied', action)
  }
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

test('the boundary leaves a share role nothing but reading the trail bucket', async () => {
  const everything = [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }]
  const b = withDefaults.boundary
  const trailObject = `arn:aws:s3:::${TRAIL}/AWSLogs/222222222222/CloudTrail/x.json.gz`
  assert.equal(await decide(everything, 's3:GetObject', trailObject, {}, b), 'Allowed')
  assert.equal(await decide(everything, 's3:ListBucket', `arn:aws:s3:::${TRAIL}`, {}, b), 'Allowed')
  assert.equal(await decide(everything, 's3:PutObject', trailObject, {}, b), 'ImplicitlyDenied')
  assert.equal(await decide(everything, 's3:DeleteObject', trailObject, {}, b), 'ImplicitlyDenied')
  assert.equal(await decide(everything, 's3:GetObject', `arn:aws:s3:::${DEST}/x`, {}, b), 'ImplicitlyDenied')
  assert.equal(await decide(everything, 'iam:CreateRole', role('/x'), {}, b), 'ImplicitlyDenied')
  assert.equal(await decide(everything, 'sts:AssumeRole', role('/Admin'), {}, b), 'ImplicitlyDenied')
  const key = `arn:aws:kms:${REGION}:${A}:key/1234abcd-12ab-34cd-56ef-1234567890ab`
  const keyPolicy = trustsAccountA('kms:*')
  assert.equal(await decide(everything, 'kms:Decrypt', key, {}, b, keyPolicy), 'ImplicitlyDenied', 'no key: no decrypt')
  const withKey = deployed({ TrailBucketName: TRAIL, KmsKeyArn: key }).boundary
  assert.equal(await decide(everything, 'kms:Decrypt', key, {}, withKey, keyPolicy), 'Allowed')
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
  assert.equal(await decide(f, 'iam:ListRoleTags', role('/trailshare/trailshare-bu-b')), 'Allowed')
  assert.equal(await decide(f, 'iam:ListRoleTags', role('/Admin')), 'ImplicitlyDenied')
  assert.equal(await decide(f, 'iam:CreateRole', role('/trailshare/x')), 'ImplicitlyDenied')
})

test('with no destinations listed, the forwarder can copy nowhere and assume nothing', async () => {
  const f = deployed({ TrailBucketName: TRAIL }).forwarder
  assert.equal(await decide(f, 's3:PutObject', `arn:aws:s3:::${DEST}/x`), 'ImplicitlyDenied')
  const trust = trustsAccountA('sts:AssumeRole')
  assert.equal(await decide(f, 'sts:AssumeRole', WRITER, {}, undefined, trust), 'ImplicitlyDenied')
})

test('a trail prefix narrows the forwarder to that prefix', async () => {
  const f = deployed({ TrailBucketName: TRAIL, TrailPrefix: 'org trail' }).forwarder
  assert.equal(await decide(f, 's3:PutObjectTagging', `arn:aws:s3:::${TRAIL}/org trail/AWSLogs/x`), 'Allowed')
  assert.equal(await decide(f, 's3:PutObjectTagging', `arn:aws:s3:::${TRAIL}/AWSLogs/x`), 'ImplicitlyDenied')
})
