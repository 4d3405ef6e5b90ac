"""Alerts that reach people (DESIGN 7): channels, steps and escalation, acknowledgement, the roll call.

The office delivers; gates notify nobody themselves. Its parts:

    channels/      how one message leaves (wecom, dingtalk, webhook, sms, smtp): ``Channel.send``
"""
