// Native TensorFlow in tests: whether @tensorflow/tfjs-node loads here, and whether it must
// (CI sets GZX_REQUIRE_NATIVE=1 after a successful `npm run setup:native`, so native tests fail
// there rather than skip).
export const nativeRequired = process.env.GZX_REQUIRE_NATIVE === '1';

/** True when @tensorflow/tfjs-node loads (it registers the `tensorflow` backend as a side effect). */
export async function nativeLoads(): Promise<boolean> {
  try {
    await import('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}
