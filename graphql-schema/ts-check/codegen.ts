import type { CodegenConfig } from '@graphql-codegen/cli';

// The platform's GraphQL API (graphql-schema/schema.graphql) and the example
// front-end operations in ../operations/admin/ (not ../operations/node/: those
// are the node's, against cluster.graphql).
const config: CodegenConfig = {
  schema: '../schema.graphql',
  documents: ['../operations/admin/*.graphql'],
  ignoreNoDocuments: false,
  generates: {
    './src/gql/': {
      preset: 'client',
      config: {
        enumsAsTypes: true,
        // every scalar the SDL declares must be mapped below, or codegen fails
        strictScalars: true,
        scalars: {
          DateTime: 'string', // RFC 3339
          JSON: 'unknown',
          JSONObject: 'Record<string, unknown>',
          ID: 'string',
        },
      },
    },
  },
};

export default config;
