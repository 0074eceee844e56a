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
