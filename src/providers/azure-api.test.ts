import assert from 'node:assert/strict';
import { test } from 'node:test';
import { azurePath, selectsAzureV1Api } from './azure-api.js';

test('the v1 API is chosen by its api-versions, or by an /openai/v1 endpoint when none is set', () => {
  assert.equal(selectsAzureV1Api(undefined, '/openai/v1'), true);
  assert.equal(selectsAzureV1Api(undefined, '/openai'), false);
  assert.equal(selectsAzureV1Api(undefined, '/'), false);
  for (const version of ['v1', 'preview', 'latest']) assert.equal(selectsAzureV1Api(version, '/'), true, version);
  for (const version of ['2024-10-21', '2025-04-01-preview']) assert.equal(selectsAzureV1Api(version, '/openai/v1'), false, version);
});

test('paths: the deployment API names the deployment and a dated api-version; v1 sends only a non-default one', () => {
  assert.equal(azurePath('chat/completions', 'prod gpt', { v1: false, apiVersion: undefined }), '/openai/deployments/prod%20gpt/chat/completions?api-version=2024-10-21');
  assert.equal(azurePath('embeddings', 'e', { v1: false, apiVersion: '2024-06-01' }), '/openai/deployments/e/embeddings?api-version=2024-06-01');
  assert.equal(azurePath('chat/completions', 'prod gpt', { v1: true, apiVersion: undefined }), '/chat/completions');
  assert.equal(azurePath('embeddings', 'e', { v1: true, apiVersion: 'v1' }), '/embeddings');
  assert.equal(azurePath('chat/completions', 'e', { v1: true, apiVersion: 'preview' }), '/chat/completions?api-version=preview');
});
