"""The staff side over Telegram: handlers, sending the outbox, forum topics, chat rights and membership,
/setup. The staff policy these carry out is bot/staff/, which knows nothing of Telegram."""
