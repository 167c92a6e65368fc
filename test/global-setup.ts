// Placeholder: replaced by the real Temporal + MinIO stack setup (issue 2).
export default async function setup(): Promise<void> {}
