# Control workers (workflow, job checks, concat, upload) and render-autoscaler.
# Build from the repository root:
#   docker build -f k8s/images/control.Dockerfile -t render-service/control:0.1.0 .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    XDG_CACHE_HOME=/tmp/.cache

# ffmpeg builds the video's sound once (mix, loudness, AAC) and joins the clips by stream copy;
# ffprobe checks media; espeak-ng speaks again any narration the work store no longer holds;
# validation lays the job's text out with the same fonts as the render workers, so it needs them too,
# and libicu, whose dictionaries break Khmer, Burmese and Lao lines between words (ffmpeg pulls it
# through libxml2; named so that it stays).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng fonts-dejavu-core \
      fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji libicu72 \
 && rm -rf /var/lib/apt/lists/*

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
CMD ["--mode", "control"]
