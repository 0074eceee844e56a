// Reads template.yaml as CloudFormation would: short-form tags (!Sub, !If,
// ...) become their long forms, then the intrinsic functions the template
// uses are resolved for one set of parameter values, so the policies can be
// handed to the evaluator exactly as IAM would receive them after deploy.
import { readFileSync } from 'node:fs'
import yaml from 'js-yaml'

const FUNCTIONS = ['Ref', 'Sub', 'If', 'Join', 'Split', 'Select', 'GetAtt', 'Equals', 'Not', 'And', 'Or', 'Condition']
const longName = (name) => (name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`)
const schema = yaml.DEFAULT_SCHEMA.extend(
  FUNCTIONS.flatMap((name) =>
    ['scalar', 'sequence', 'mapping'].map(
      (kind) =>
        new yaml.Type(`!${name}`, {
          kind,
          construct: (data) => ({
            [longName(name)]: name === 'GetAtt' && typeof data === 'string' ? data.split('.') : data,
          }),
        }),
    ),
  ),
)

export function loadTemplate(path) {
  return yaml.load(readFileSync(path, 'utf8'), { schema })
}

const NO_VALUE = Symbol('AWS::NoValue')

/** Resolves `node` for `params`; resources' Ref/GetAtt become ARNs via `arns`. */
export function resolver(template, params, { account, region, partition = 'aws', arns = {} }) {
  const values = { ...params }
  for (const [name, spec] of Object.entries(template.Parameters ?? {})) {
    if (!(name in values)) values[name] = spec.Default ?? ''
    if (spec.Type === 'CommaDelimitedList' && typeof values[name] === 'string') {
      values[name] = values[name] === '' ? [''] : values[name].split(',')
    }
  }
  const pseudo = {
    'AWS::AccountId': account,
    'AWS::Region': region,
    'AWS::Partition': partition,
    'AWS::StackName': 'trailshare',
    'AWS::NoValue': NO_VALUE,
  }
  const ref = (name) => {
    if (name in pseudo) return pseudo[name]
    if (name in values) return values[name]
    if (name in arns) return arns[name]
    throw new Error(`cannot resolve Ref ${name}`)
  }
  const condition = (name) => resolve(template.Conditions[name])
  const resolve = (node) => {
    if (Array.isArray(node)) return node.map(resolve).filter((v) => v !== NO_VALUE)
    if (node === null || typeof node !== 'object') return node
    const keys = Object.keys(node)
    if (keys.length === 1) {
      const [key] = keys
      const arg = node[key]
      switch (key) {
        case 'Ref':
          return ref(arg)
        case 'Condition':
          return condition(arg)
        case 'Fn::Sub': {
          const [text, vars] = typeof arg === 'string' ? [arg, {}] : [arg[0], resolve(arg[1])]
          return text.replace(/\$\{([^}!]+)\}/g, (_, name) => {
            if (name in vars) return vars[name]
            if (name.includes('.')) return arns[name] ?? fail(`cannot resolve \${${name}}`)
            return ref(name)
          })
        }
        case 'Fn::If':
          return resolve(condition(arg[0]) ? arg[1] : arg[2])
        case 'Fn::Join':
          return resolve(arg[1]).join(arg[0])
        case 'Fn::Split':
          return resolve(arg[1]).split(arg[0])
        case 'Fn::Select':
          return resolve(arg[1])[Number(resolve(arg[0]))]
        case 'Fn::GetAtt':
          return arns[arg.join('.')] ?? fail(`cannot resolve GetAtt ${arg.join('.')}`)
        case 'Fn::Equals': {
          const [a, b] = resolve(arg)
          return JSON.stringify(a) === JSON.stringify(b)
        }
        case 'Fn::Not':
          return !resolve(arg[0])
        case 'Fn::And':
          return resolve(arg).every(Boolean)
        case 'Fn::Or':
          return resolve(arg).some(Boolean)
        default:
          if (key.startsWith('Fn::')) throw new Error(`unsupported intrinsic ${key}`)
      }
    }
    const out = {}
    for (const [key, value] of Object.entries(node)) {
      const resolved = resolve(value)
      if (resolved !== NO_VALUE) out[key] = resolved
    }
    return out
  }
  return resolve
}

function fail(message) {
  throw new Error(message)
}
