export default ["packages/protocol", "packages/testkit", "packages/client", "packages/cli"]
