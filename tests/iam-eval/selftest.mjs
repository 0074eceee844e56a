// Proves the evaluator can say both "yes" and "no" before the Rust tests
// trust its answers: each case is a textbook AWS rule with a known outcome.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { evaluate } from './eval.mjs'

const doc = (...Statement) => ({ Version: '2012-10-17', Statement })
const listOwnPrefix = doc({
  Effect: 'Allow',
  Action: 's3:ListBucket',
  Resource: 'arn:aws:s3:::trail',
  Condition: { StringLike: { 's3:prefix': ['AWSLogs/222222222222/*'] } },
})
const list = (prefix) => ({
  name: `list ${prefix}`,
  identityPolicies: [listOwnPrefix],
  request: {
    principal: 'arn:aws:sts::111111111111:assumed-role/r/s',
    action: 's3:ListBucket',
    resource: 'arn:aws:s3:::trail',
    resourceAccount: '111111111111',
    context: prefix === undefined ? {} : { 's3:prefix': prefix },
  },
})

test('a StringLike prefix condition allows its own prefix only', async () => {
  assert.equal(await evaluate(list('AWSLogs/222222222222/CloudTrail/')), 'Allowed')
  assert.equal(await evaluate(list('AWSLogs/333333333333/')), 'ImplicitlyDenied')
  assert.equal(await evaluate(list(undefined)), 'ImplicitlyDenied')
})

const trust = doc({
  Effect: 'Allow',
  Principal: { AWS: 'arn:aws:iam::444444444444:root' },
  Action: 'sts:AssumeRole',
  Condition: { StringEquals: { 'sts:ExternalId': 'Example-Id_1' } },
})
const assume = (principal, externalId) => ({
  name: `assume by ${principal}`,
  identityPolicies: [doc({ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' })],
  resourcePolicy: trust,
  request: {
    principal,
    action: 'sts:AssumeRole',
    resource: 'arn:aws:iam::111111111111:role/trailshare/trailshare-z',
    resourceAccount: '111111111111',
    context: externalId === undefined ? {} : { 'sts:ExternalId': externalId },
  },
})

test('a cross-account trust policy needs the right account and external id', async () => {
  assert.equal(await evaluate(assume('arn:aws:iam::444444444444:user/z', 'Example-Id_1')), 'Allowed')
  assert.equal(await evaluate(assume('arn:aws:iam::444444444444:user/z', 'Example-Id_2')), 'ImplicitlyDenied')
  assert.equal(await evaluate(assume('arn:aws:iam::444444444444:user/z', undefined)), 'ImplicitlyDenied')
  assert.equal(await evaluate(assume('arn:aws:iam::333333333333:user/c', 'Example-Id_1')), 'ImplicitlyDenied')
})

test('a permissions boundary caps an identity policy; an explicit deny wins', async () => {
  const getAnything = doc({ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' })
  const boundary = doc({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::trail/*' })
  const get = (resource, extra = {}) => ({
    name: resource,
    identityPolicies: [getAnything],
    permissionBoundaryPolicies: [boundary],
    request: {
      principal: 'arn:aws:sts::111111111111:assumed-role/r/s',
      action: 's3:GetObject',
      resource,
      resourceAccount: '111111111111',
    },
    ...extra,
  })
  assert.equal(await evaluate(get('arn:aws:s3:::trail/AWSLogs/x')), 'Allowed')
  assert.equal(await evaluate(get('arn:aws:s3:::other/secret')), 'ImplicitlyDenied')
  const denied = get('arn:aws:s3:::trail/AWSLogs/x', {
    identityPolicies: [getAnything, doc({ Effect: 'Deny', Action: 's3:*', Resource: '*' })],
  })
  assert.equal(await evaluate(denied), 'ExplicitlyDenied')
})

test('a malformed question is an error, never a silent denial', async () => {
  const bad = list('AWSLogs/')
  bad.request.action = 's3:NoSuchAction'
  await assert.rejects(evaluate(bad), /invalid/)
})

test('a KMS encryption-context condition is judged, not dropped', async () => {
  const key = 'arn:aws:kms:us-east-1:111111111111:key/k1'
  const trail = 'arn:aws:cloudtrail:us-east-1:111111111111:trail/org'
  const decrypt = (context) => ({
    name: `decrypt ${JSON.stringify(context)}`,
    identityPolicies: [
      doc({
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: key,
        Condition: { StringLike: { 'kms:EncryptionContext:aws:cloudtrail:arn': [trail] } },
      }),
    ],
    resourcePolicy: doc({ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111111111111:root' }, Action: 'kms:*', Resource: '*' }),
    request: {
      principal: 'arn:aws:sts::111111111111:assumed-role/r/s',
      action: 'kms:Decrypt',
      resource: key,
      resourceAccount: '111111111111',
      context,
    },
  })
  assert.equal(await evaluate(decrypt({ 'kms:EncryptionContext:aws:cloudtrail:arn': trail })), 'Allowed')
  assert.equal(await evaluate(decrypt({ 'kms:EncryptionContext:aws:cloudtrail:arn': `${trail}2` })), 'ImplicitlyDenied')
  assert.equal(await evaluate(decrypt({})), 'ImplicitlyDenied')
  await assert.rejects(evaluate(decrypt({ 'ec2:Region': 'us-east-1' })), /context keys/)
})

// Organization shares (see README.md): the evaluator must judge session
// tags, policy variables and the case of tag keys before the Rust tests
// trust its answers on them.
const role = 'arn:aws:iam::111111111111:role/trailshare/trailshare-members'
const assumeWithTag = (trust, context, principal = 'arn:aws:iam::222222222222:role/LogReader') => ({
  name: `assume ${JSON.stringify(context)}`,
  identityPolicies: [doc({ Effect: 'Allow', Action: ['sts:AssumeRole', 'sts:TagSession'], Resource: '*' })],
  resourcePolicy: trust,
  request: { principal, action: 'sts:TagSession', resource: role, resourceAccount: '111111111111', context },
})
const ownTagOnly = doc({
  Effect: 'Allow',
  Principal: { AWS: '*' },
  Action: ['sts:AssumeRole', 'sts:TagSession'],
  Condition: { StringEquals: { 'aws:RequestTag/trailshare:account': '${aws:PrincipalAccount}' } },
})

test("a trust's ${aws:PrincipalAccount} is the caller's own account, derived from its ARN", async () => {
  const tag = (value) => ({ 'aws:RequestTag/trailshare:account': value })
  assert.equal(await evaluate(assumeWithTag(ownTagOnly, tag('222222222222'))), 'Allowed')
  assert.equal(await evaluate(assumeWithTag(ownTagOnly, tag('333333333333'))), 'ImplicitlyDenied')
  assert.equal(await evaluate(assumeWithTag(ownTagOnly, {})), 'ImplicitlyDenied')
  const c = 'arn:aws:iam::333333333333:role/LogReader'
  assert.equal(await evaluate(assumeWithTag(ownTagOnly, tag('333333333333'), c)), 'Allowed')
})

test('condition keys match in any case; StringEquals on aws:TagKeys does not', async () => {
  const cased = { 'aws:RequestTag/Trailshare:Account': '222222222222', 'aws:TagKeys': ['Trailshare:Account'] }
  // The key part of aws:RequestTag/<key> is case-insensitive: this passes...
  assert.equal(await evaluate(assumeWithTag(ownTagOnly, cased)), 'Allowed')
  // ...so only a case-sensitive test of the tag keys refuses it.
  const exact = structuredClone(ownTagOnly)
  exact.Statement[0].Condition['ForAllValues:StringEquals'] = { 'aws:TagKeys': ['trailshare:account'] }
  assert.equal(await evaluate(assumeWithTag(exact, cased)), 'ImplicitlyDenied')
  const own = { 'aws:RequestTag/trailshare:account': '222222222222', 'aws:TagKeys': ['trailshare:account'] }
  assert.equal(await evaluate(assumeWithTag(exact, own)), 'Allowed')
  const two = { ...own, 'aws:RequestTag/team': 'x', 'aws:TagKeys': ['trailshare:account', 'team'] }
  assert.equal(await evaluate(assumeWithTag(exact, two)), 'ImplicitlyDenied')
})

test('Null denies a transitive tag; ForAnyValue on a missing key denies', async () => {
  const own = { 'aws:RequestTag/trailshare:account': '222222222222' }
  const noTransitive = structuredClone(ownTagOnly)
  noTransitive.Statement[0].Condition.Null = { 'sts:TransitiveTagKeys': 'true' }
  assert.equal(await evaluate(assumeWithTag(noTransitive, own)), 'Allowed')
  const transitive = { ...own, 'sts:TransitiveTagKeys': ['trailshare:account'] }
  assert.equal(await evaluate(assumeWithTag(noTransitive, transitive)), 'ImplicitlyDenied')
  const inOu = structuredClone(ownTagOnly)
  inOu.Statement[0].Condition['ForAnyValue:StringLike'] = { 'aws:PrincipalOrgPaths': ['o-a1b2c3d4e5/r-ab12/*'] }
  assert.equal(await evaluate(assumeWithTag(inOu, { ...own, 'aws:PrincipalOrgPaths': ['o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/'] })), 'Allowed')
  assert.equal(await evaluate(assumeWithTag(inOu, own)), 'ImplicitlyDenied')
})

test("a resource's ${aws:PrincipalTag/k} is the session's tag; no tag matches nothing", async () => {
  const read = doc(
    { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::trail/AWSLogs/${aws:PrincipalTag/trailshare:account}/CloudTrail/*' },
    { Effect: 'Deny', Action: '*', Resource: '*', Condition: { StringEquals: { 'aws:PrincipalTag/trailshare:account': ['444444444444'] } } },
  )
  const get = (account, tag) => ({
    name: `get ${account} as ${tag}`,
    identityPolicies: [read],
    request: {
      principal: 'arn:aws:sts::111111111111:assumed-role/trailshare-members/s',
      action: 's3:GetObject',
      resource: `arn:aws:s3:::trail/AWSLogs/${account}/CloudTrail/us-east-1/f.json.gz`,
      resourceAccount: '111111111111',
      context: tag ? { 'aws:PrincipalTag/trailshare:account': tag } : {},
    },
  })
  assert.equal(await evaluate(get('222222222222', '222222222222')), 'Allowed')
  assert.equal(await evaluate(get('333333333333', '222222222222')), 'ImplicitlyDenied')
  assert.equal(await evaluate(get('222222222222', undefined)), 'ImplicitlyDenied')
  assert.equal(await evaluate(get('444444444444', '444444444444')), 'ExplicitlyDenied')
})
