#version 450
// g[i] = gelu(g[i]) (tanh approximation, as tensor/ops' gelu_inplace), times
// u[i] when has_up (GeGLU; has_up = 0 binds g as u). In place.
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer G { float g[]; };
layout(std430, binding = 1) readonly buffer U { float u[]; };
layout(push_constant) uniform P { uint n, has_up; } p;

void main() {
  for (uint i = gl_GlobalInvocationID.x; i < p.n; i += gl_NumWorkGroups.x * 64u) {
    const float v = g[i];
    // tanh saturates long before |arg| = 10; clamping keeps exp() inside tanh finite.
    const float t = tanh(clamp(0.79788456080286535588 * v * (1.0 + 0.044715 * v * v), -10.0, 10.0));
    const float y = 0.5 * v * (1.0 + t);
    g[i] = p.has_up != 0u ? y * u[i] : y;
  }
}
