#!/bin/sh
# Shared by Dockerfile and Dockerfile.debian: the jenkins account and a silent, keyless image.
set -eu
# jenkins/ssh-agent conventions: uid 1000, home /home/jenkins, remoteFS /home/jenkins/agent.
groupadd --gid 1000 jenkins
useradd --uid 1000 --gid 1000 --home-dir /home/jenkins --create-home --shell /bin/bash jenkins
# '*' (not '!'): no password, yet not "locked", which sshd refuses for key logins without PAM.
usermod -p '*' jenkins
usermod -aG docker jenkins
install -d -o jenkins -g jenkins -m 0755 /home/jenkins/agent
install -d -o jenkins -g jenkins -m 0700 /home/jenkins/.ssh
# A silent login: no motd, no last-login line, nothing from rc files.
: > /etc/motd
rm -f /etc/update-motd.d/* 2>/dev/null || true
touch /home/jenkins/.hushlogin
chown jenkins:jenkins /home/jenkins/.hushlogin
# Host keys are per agent: none may be baked into the image.
rm -f /etc/ssh/ssh_host_*
# No subordinate ids: useradd gives jenkins 100000-165535, which would overlap the host ids of
# some agent's user namespace. Nothing in an agent needs them (slipway-init maps the namespace).
: > /etc/subuid
: > /etc/subgid
# The inner docker CLI finds the daemon where slipway-init starts it (/run/docker.sock;
# /var/run is /run on trixie).
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb
