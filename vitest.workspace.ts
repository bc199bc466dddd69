export default ["packages/protocol", "packages/testkit", "packages/client", "packages/cluster", "packages/cli"]
