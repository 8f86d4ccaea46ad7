# GPU workers (clip renders). NVENC comes from the host driver: the NVIDIA container toolkit mounts
# its video libraries when NVIDIA_DRIVER_CAPABILITIES includes `video`. Ubuntu's ffmpeg is built with
# h264_nvenc; workers prove it with a probe encode and fall back to libx264 when it fails.
# Build from the repository root:
#   docker build -f k8s/images/gpu.Dockerfile -t render-service/gpu:0.1.0 .
FROM nvidia/cuda:12.6.3-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,video \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    XDG_CACHE_HOME=/tmp/.cache \
    PATH=/opt/venv/bin:$PATH

# ffmpeg renders, espeak-ng narrates; DejaVu (RENDER_FONT's default) and the Noto faces draw the text:
# Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, Thai, CJK and colour emoji; libicu's dictionaries
# break Khmer, Burmese and Lao lines between words (Ubuntu 24.04 ships ICU 74; ffmpeg pulls it too).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng fonts-dejavu-core \
      fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji libicu74 python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*

# Ubuntu 24.04's Python 3.12 refuses system-wide pip installs: the service gets its own venv.
RUN python3 -m venv /opt/venv
WORKDIR /opt/render-service
COPY pyproject.toml README.md ./
COPY contracts contracts
COPY workflows workflows
COPY engine engine
COPY activities activities
COPY workers workers
COPY starter starter
COPY runtime runtime
RUN pip install --no-compile .

# A numeric non-root user in group 0, so OpenShift's arbitrary UIDs work too.
RUN useradd --uid 10001 --gid 0 --no-create-home --home-dir /tmp render
USER 10001
ENTRYPOINT ["render-worker"]
CMD ["--mode", "gpu"]
